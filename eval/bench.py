"""``tagrank bench``: run the benchmark protocol of the spec and write results files.

With no data directory it runs on the embedded default (gensim's word lists and
the synthetic catalogue in ``data/``), so it works on a fresh install.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from tagrank.baselines.validation import TagrankInputError
from tagrank.eval.datasets import Dataset, load_dataset, resolve_data_dir
from tagrank.eval.methods import TASKS, MethodContext, methods_for
from tagrank.eval.results import write_results

REAL = {
    "similarity": ("wordsim353", "simlex999", "cos960", "stsb_en", "stsb_zh", "lcqmc"),
    "search": ("homedepot",),
    "recommend": ("movielens", "online_retail"),
    "taxonomy": ("fashion",),
    "tagrec": ("movielens",),
}
EMBEDDED = {
    "similarity": ("gensim_wordsim353", "gensim_simlex999"),
    "search": ("sample",),
    "recommend": ("sample",),
    "taxonomy": ("sample",),
    "tagrec": ("sample",),
}


def task_runner(task: str) -> Callable[..., list[dict[str, Any]]]:
    """The protocol of one task (``eval.tasks.<task>.run``)."""
    return importlib.import_module(f"tagrank.eval.tasks.{task}").run


def plan(tasks: list[str] | None, datasets: list[str] | None, embedded: bool) -> list[tuple[str, str]]:
    """(task, dataset) pairs to run, in the spec's order."""
    table = EMBEDDED if embedded else REAL
    chosen = tasks or list(TASKS)
    for t in chosen:
        if t not in TASKS:
            raise TagrankInputError(f"unknown task {t!r}; known: {list(TASKS)}")
    out = []
    for t in chosen:
        for d in table[t]:
            if not datasets or d in datasets:
                out.append((t, d))
    if datasets:
        known = {d for t in chosen for d in REAL[t] + EMBEDDED[t]}
        bad = [d for d in datasets if d not in known]
        if bad:
            raise TagrankInputError(f"dataset(s) {bad} are not part of task(s) {chosen}; known: {sorted(known)}")
        if not out:
            hint = "real datasets need --data-dir (or TAGRANK_DATA)" if embedded else "embedded datasets run without --data-dir"
            raise TagrankInputError(f"nothing to run for dataset(s) {datasets}: {hint}")
    return out


def run_bench(
    tasks: list[str] | None = None,
    datasets: list[str] | None = None,
    methods: list[str] | None = None,
    data_dir: str | os.PathLike | None = None,
    device: str = "auto",
    out: str | os.PathLike = "benchmarks/results",
    random_state: int = 0,
    cache_dir: str | os.PathLike | None = ".tagrank_cache",
    show_progress: bool = True,
    user_data: Dataset | None = None,
    scheduler: str | None = None,
    dtype: str = "float32",
) -> list[Path]:
    """Run the protocol for the chosen tasks and datasets; returns the files written.

    ``dtype`` is the transformers' precision. The default, float32, keeps the tables from following
    the hardware's half precision (with the AVX2 code paths the ``tagrank`` command pins, see
    :mod:`tagrank.eval.numerics`, they reproduce across x86-64 CPUs as far as measured there).
    ``"auto"`` runs faster where the hardware computes half precision natively (bfloat16 with AMX,
    float16 on CUDA), but the numbers then depend on the machine.

    ``user_data`` (see :mod:`tagrank.eval.user_data`) runs the protocol of the task its
    frames belong to on a user's own dataset instead of the built-in ones. NumPy's BLAS runs
    on one thread throughout: a multi-threaded BLAS splits float sums by core count, and a
    last-bit change in one feature can move a LightGBM split, so the tables would depend on
    the machine's cores (torch and LightGBM set their own threads).
    """
    import scipy.linalg  # noqa: F401 - SciPy bundles its own BLAS: load it so the limit covers it too
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):  # only libraries loaded by now are limited
        return _run_bench(tasks, datasets, methods, data_dir, device, out, random_state, cache_dir,
                          show_progress, user_data, scheduler, dtype)


def _run_bench(
    tasks: list[str] | None,
    datasets: list[str] | None,
    methods: list[str] | None,
    data_dir: str | os.PathLike | None,
    device: str,
    out: str | os.PathLike,
    random_state: int,
    cache_dir: str | os.PathLike | None,
    show_progress: bool,
    user_data: Dataset | None,
    scheduler: str | None,
    dtype: str,
) -> list[Path]:
    from tagrank.baselines.vectors import resolve_device
    from tagrank.hybrid.encoder import resolve_dtype

    resolve_dtype(dtype, resolve_device(device))  # fail early on cuda without a GPU or an unknown dtype
    if scheduler is not None:
        from tagrank.eval.distributed import connect

        connect(scheduler)
    embedded = data_dir is None and not os.environ.get("TAGRANK_DATA")
    root = None if embedded else resolve_data_dir(data_dir)
    if root is not None and not root.exists():
        raise TagrankInputError(f"data directory {root}: no such directory (from --data-dir or TAGRANK_DATA)")
    if root is not None and not root.is_dir():
        raise TagrankInputError(f"data directory {root} is a file, not a directory")
    if user_data is not None:
        return _run_user(user_data, tasks, methods, device, out, random_state, cache_dir, show_progress, dtype)

    @cache
    def training_texts(language: str, evaluated: str) -> tuple[str, ...]:
        """The language's corpus without the evaluated dataset (its task adds its own train texts)."""
        from tagrank.eval.corpora import language_corpus

        texts, _ = language_corpus(language, root, embedded, exclude=(evaluated,))
        return tuple(texts)

    written = []
    for task, name in plan(tasks, datasets, embedded):
        specs = methods_for(task, methods)
        if not specs:
            continue
        dataset = load_dataset(name, root)
        ctx = MethodContext(
            task=task, dataset=name, language=dataset.language, device=device, random_state=random_state,
            cache_dir=Path(cache_dir) if cache_dir else None, dtype=dtype,
            training_texts=lambda lang=dataset.language, name=name: list(training_texts(lang, name)),
            show_progress=show_progress,
        )
        for doc in task_runner(task)(dataset, specs, ctx):
            written.append(write_results(doc, out))
    return written


def _run_user(
    dataset: Dataset, tasks: list[str] | None, methods: list[str] | None, device: str,
    out: str | os.PathLike, random_state: int, cache_dir: str | os.PathLike | None, show_progress: bool,
    dtype: str = "float32",
) -> list[Path]:
    """The protocol of the task a user's dataset belongs to (its texts are its own word2vec corpus)."""
    from tagrank.eval.user_data import task_of

    task = task_of(dataset)
    if tasks and task not in tasks:
        raise TagrankInputError(f"your dataset is a {task!r} dataset, but --task asks for {tasks}")
    specs = methods_for(task, methods)
    ctx = MethodContext(
        task=task, dataset=dataset.name, language=dataset.language, device=device, random_state=random_state,
        cache_dir=Path(cache_dir) if cache_dir else None, show_progress=show_progress, dtype=dtype,
    )
    return [write_results(doc, out) for doc in task_runner(task)(dataset, specs, ctx)]
