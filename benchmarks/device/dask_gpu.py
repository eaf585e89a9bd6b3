#!/usr/bin/env python3
"""Device check (run by run_checks.sh on a GPU machine): Dask encode on a GPU worker equals the
single-process CUDA encode; CUDA vs CPU float32 embeddings; CUDA top_k ids equal the CPU ones.

Environment: CHECK_DEVICE (default cuda), N texts (20,000), N2 texts for the CPU cross-check (2,000),
NI items for top-k (200,000), OUT (where dask_gpu.json is written)."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pandas as pd
import torch
from tagrank.baselines.vectors import top_k
from tagrank.eval.distributed import connect, disconnect
from tagrank.hybrid.dask_encode import encode_dask
from tagrank.hybrid.encoder import TransformerEncoder


def main() -> None:
    dev = os.environ.get("CHECK_DEVICE", "cuda")
    n, n2, ni = (int(os.environ.get(k, d)) for k, d in (("N", 20000), ("N2", 2000), ("NI", 200000)))
    titles = pd.read_csv("/tmp/data/homedepot/train.csv", encoding="latin-1")["product_title"].astype(str)
    texts = list(dict.fromkeys(titles))
    out: dict[str, object] = {"n": n}
    enc = TransformerEncoder(device=dev, show_progress=False, batch_size=256)
    for label in ("encode_s_first", "encode_s_warm"):
        t = time.perf_counter()
        single = enc.encode(texts[:n])
        out[label] = time.perf_counter() - t
    client = connect("local:1", activate=False)
    try:
        dist = client.compute(encode_dask(enc, texts[:n], client=client, npartitions=8)).result()
        out["dask_worker_vs_process_max_abs_diff"] = float(np.abs(dist - single).max())
        out["worker_sees_cuda"] = list(client.run(torch.cuda.is_available).values())
    finally:
        disconnect(client)
    g32 = TransformerEncoder(device=dev, dtype="float32", show_progress=False).encode(texts[:n2])
    c32 = TransformerEncoder(device="cpu", dtype="float32", show_progress=False).encode(texts[:n2])
    out["device_fp32_vs_cpu_fp32_max_abs_diff"] = float(np.abs(g32 - c32).max())
    out["device_auto_vs_cpu_fp32_max_abs_diff"] = float(np.abs(single[:n2] - c32).max())
    rng = np.random.default_rng(0)
    items = rng.standard_normal((ni, 384)).astype(np.float32)
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    queries = rng.standard_normal((1000, 384)).astype(np.float32)
    ids_cpu, s_cpu = top_k(queries, items, k=10, device="cpu")
    ids_dev, s_dev = top_k(queries, items, k=10, device=dev)
    out["topk_ids_agreement_device_vs_cpu"] = float((ids_cpu == ids_dev).mean())
    out["topk_max_score_diff_device_vs_cpu"] = float(np.abs(s_cpu - s_dev).max())
    print(json.dumps(out, indent=1))
    with open(os.path.join(os.environ.get("OUT", "/tmp"), "dask_gpu.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
