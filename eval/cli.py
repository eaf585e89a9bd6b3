"""The tagrank command line: bench, report, compare, batch and data."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from tagrank.baselines.validation import TagrankInputError

RUNS_DIR = "runs"


def fresh_run_dir(base: str | os.PathLike = RUNS_DIR) -> Path:
    """A new folder ``runs/<UTC timestamp>`` (suffixed when two runs start in one second)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    path = Path(base) / stamp
    n = 1
    while path.exists():
        n += 1
        path = Path(base) / f"{stamp}-{n}"
    return path


def latest_run_dir(base: str | os.PathLike = RUNS_DIR) -> Path | None:
    """The run folder under ``runs/`` whose results were written last, or None.

    Newest by the results files' modification time, not by name, so a run the user named
    (``--out runs/myshop``) counts like a timestamped one."""
    root = Path(base)
    if not root.is_dir():
        return None
    written = {p: max(f.stat().st_mtime for f in p.glob("*/*.json"))
               for p in root.iterdir() if p.is_dir() and any(p.glob("*/*.json"))}
    return max(written, key=lambda p: (written[p], p.name)) if written else None


def _bench(args: argparse.Namespace) -> int:
    from tagrank.eval.bench import run_bench

    out = Path(args.out) if args.out else fresh_run_dir()
    paths = run_bench(
        tasks=args.task, datasets=args.dataset, methods=args.method, data_dir=args.data_dir,
        device=args.device, out=out, random_state=args.seed,
        cache_dir=None if args.no_cache else args.cache_dir, show_progress=not args.no_progress,
        user_data=_user_data(args), scheduler=args.scheduler, dtype=args.dtype,
    )
    for path in paths:
        print(f"wrote {path}")
    print(f"results in {out}  (render them with: tagrank report --results {out})")
    return 0


def _user_data(args: argparse.Namespace):
    """A user's own dataset from files (``--judgments`` / ``--interactions``), or None."""
    if not (args.judgments or args.interactions or args.pairs):
        if args.items or args.split or args.columns:
            raise TagrankInputError("--items, --split and --columns describe a user's dataset: also give "
                                    "--judgments (search), --interactions (recommend) or --pairs (similarity)")
        return None
    from tagrank.eval.user_data import parse_columns, user_dataset

    return user_dataset(
        judgments=args.judgments, interactions=args.interactions, pairs=args.pairs, items=args.items,
        split=args.split, columns=parse_columns(args.columns), name=args.name,
    )


def _report(args: argparse.Namespace) -> int:
    from tagrank.eval.report import write_report

    if args.results:
        results = Path(args.results)
    else:
        latest = latest_run_dir()
        if latest is None:
            raise TagrankInputError(
                f"no run folder under {RUNS_DIR}/ to render: run `tagrank bench` first, or pass "
                "--results DIR (e.g. --results benchmarks/results for the committed tables)"
            )
        results = latest
    if not results.is_dir():
        raise TagrankInputError(f"--results {results}: no such directory")
    out = Path(args.out) if args.out else results / "report"
    readme = args.update_readme
    for path in write_report(results, out, readme=readme):
        print(f"wrote {path}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from tagrank.eval.reproduce import compare_runs, format_comparison

    run = Path(args.run) if args.run else latest_run_dir()
    if run is None:
        raise TagrankInputError(f"no run folder under {RUNS_DIR}/ to compare: run `tagrank bench` first, or pass --run DIR")
    rows = compare_runs(args.results, run)
    print(f"comparing {run} with {args.results}")
    print(format_comparison(rows))
    return 1 if any(r.status == "differs" for r in rows) else 0


def _data(args: argparse.Namespace) -> int:
    from tagrank.eval.datasets import dataset_summary, resolve_data_dir

    root = resolve_data_dir(args.data_dir)
    if args.data_dir is not None or os.environ.get("TAGRANK_DATA"):
        if not root.exists():
            raise TagrankInputError(f"data directory {root}: no such directory")
        if not root.is_dir():
            raise TagrankInputError(f"data directory {root} is a file, not a directory")
    print(f"data directory: {root}")
    table = dataset_summary(args.data_dir)
    with_pd_options(lambda: print(table.to_string(index=False)))
    return 0


def with_pd_options(fn) -> None:
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 50, "display.max_colwidth", 60):
        fn()


def _epilog() -> str:
    """Plain-text list of tasks, datasets and methods (read from the registry, never typed in)."""
    from tagrank.eval.bench import EMBEDDED, REAL
    from tagrank.eval.methods import TASKS, methods_for

    lines = ["tasks, their datasets (embedded default | real, with --data-dir) and methods:"]
    for task in TASKS:
        lines.append(f"  {task}")
        lines.append(f"    datasets: {', '.join(EMBEDDED[task])} | {', '.join(REAL[task])}")
        lines.append(f"    methods:  {', '.join(s.name for s in methods_for(task))}")
    lines.append("")
    lines.append("defaults: every task, dataset and method; results in a fresh runs/<timestamp>/ folder.")
    return "\n".join(lines)


def build_parser(with_epilog: bool = True) -> argparse.ArgumentParser:
    from tagrank import __version__

    parser = argparse.ArgumentParser(
        prog="tagrank",
        description="tagrank: product and tag similarity and ranking, with a reproducible benchmark.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tagrank {__version__}")
    parser.add_argument("--verbose", action="store_true", help="show library log output and model-loading bars")
    sub = parser.add_subparsers(dest="command", required=True)

    bench = sub.add_parser(
        "bench", help="run the benchmark protocol and write results files",
        description="Run the benchmark protocol of BENCHMARK_SPEC.md and write one results file per "
                    "task and dataset. Without --data-dir it runs on the embedded default data.",
        epilog=_epilog() if with_epilog else None, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_argument("--task", action="append", help="task to run (repeatable); default: all")
    bench.add_argument("--dataset", action="append", help="dataset to run (repeatable); default: all of the task")
    bench.add_argument("--method", action="append", help="method to run (repeatable); default: all registered")
    bench.add_argument("--data-dir", default=None, help="real data (default: the embedded sample; or $TAGRANK_DATA)")
    bench.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="default: auto")
    bench.add_argument("--native-isa", action="store_true",
                       help="let BLAS and torch use this CPU's fastest code paths (AVX-512, AMX) instead of "
                            "the AVX2 ones the tagrank command pins: faster, but the numbers then depend on the CPU")
    bench.add_argument("--dtype", default="float32", choices=["float32", "auto", "bfloat16", "float16"],
                       help="transformer precision (default: float32, so that the tables do not follow the hardware's "
                            "half precision; auto: bfloat16 on a CPU with AMX, float16 on CUDA: faster, "
                            "machine-dependent numbers, and the AVX2 pin is skipped)")
    bench.add_argument("--out", default=None,
                       help="results directory (default: a fresh runs/<timestamp>/; "
                            "--out benchmarks/results updates the committed files)")
    bench.add_argument("--seed", type=int, default=0, help="random_state of every stochastic step (default: 0)")
    bench.add_argument("--cache-dir", default=".tagrank_cache", help="embedding cache directory (default: .tagrank_cache)")
    bench.add_argument("--no-cache", action="store_true", help="do not cache embeddings")
    bench.add_argument("--no-progress", action="store_true", help="hide progress bars")
    bench.add_argument("--scheduler", default=None,
                       help="Dask scheduler ADDRESS, or local:N for a LocalCluster of N workers (needs tagrank[dask])")
    own = bench.add_argument_group("your own dataset (instead of the built-in ones)")
    own.add_argument("--judgments", help="CSV/Parquet of graded judgments (search): query, item, label")
    own.add_argument("--interactions", help="CSV/Parquet of interactions (recommend): user, item, time")
    own.add_argument("--pairs", help="CSV/Parquet of scored text pairs (similarity): left, right, score")
    own.add_argument("--items", help="CSV/Parquet of item texts: item, text")
    own.add_argument("--split", help="CSV/Parquet assigning each query/user/pair to train, valid or test")
    own.add_argument("--columns", help="column mapping, e.g. query=search_term,item=product_uid,label=relevance")
    own.add_argument("--name", default="user", help="dataset name in the results files (default: user)")
    bench.set_defaults(func=_bench)

    report = sub.add_parser(
        "report", help="render a results folder into benchmarks.md and report.html",
        description="Render a results folder. Defaults: the newest runs/<timestamp>/, written to its report/ "
                    "subfolder. The committed docs: --results benchmarks/results --out docs --update-readme README.md",
    )
    report.add_argument("--results", default=None, help="results folder (default: the newest runs/<timestamp>/)")
    report.add_argument("--out", "--docs", dest="out", default=None, help="output folder (default: <results>/report)")
    report.add_argument("--update-readme", nargs="?", const="README.md", default=None, metavar="README",
                        help="also refresh the benchmark tables in this README (default README.md)")
    report.set_defaults(func=_report)

    compare = sub.add_parser(
        "compare", help="check that a run reproduces a results folder (exit 1 where a file differs)",
        description="Compare every results file of a run (default: the newest runs/<timestamp>/) with the "
                    "file of the same name in --results (default: the committed benchmarks/results), apart "
                    "from timings, versions and dates; floats to a relative 1e-6.",
    )
    compare.add_argument("--results", default="benchmarks/results", help="reference folder (default: benchmarks/results)")
    compare.add_argument("--run", default=None, help="the run to check (default: the newest runs/<timestamp>/)")
    compare.set_defaults(func=_compare)

    from tagrank.eval.distributed import add_batch_parser

    add_batch_parser(sub)  # tagrank batch recommend|search (Dask)

    data = sub.add_parser("data", help="list the datasets found and their row counts")
    data.add_argument("--data-dir", default=None, help="default: $TAGRANK_DATA, else ../shared/data")
    data.set_defaults(func=_data)
    return parser


def quiet_libraries() -> None:
    """Silence transformers' and the hub's loading bars and info logs (``--verbose`` keeps them)."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    if "transformers" in sys.modules:  # already imported: its settings are read at import time
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()


def main(argv: list[str] | None = None) -> int:
    from tagrank.eval.results import set_command

    raw = sys.argv[1:] if argv is None else list(argv)
    needs_epilog = any(a in ("-h", "--help") for a in raw)
    args = build_parser(with_epilog=needs_epilog).parse_args(raw)
    if not args.verbose:
        quiet_libraries()
    set_command(["tagrank", *raw])
    try:
        return args.func(args)
    except TagrankInputError as exc:
        print(f"tagrank {args.command}: error: {exc}", file=sys.stderr)
        return 2
    finally:
        set_command(None)


if __name__ == "__main__":  # pragma: no cover - the console script is tagrank.eval.console:main
    sys.exit(main())
