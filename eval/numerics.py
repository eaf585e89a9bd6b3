"""The same floating-point code paths on x86-64 CPUs, so that ``tagrank bench`` writes the same tables.

NumPy's and SciPy's OpenBLAS, torch's MKL and oneDNN, and torch's own vectorised kernels each
pick a code path from the CPU they load on: AVX2 on one machine, AVX-512 or AMX on another.
The paths add in different orders, so float32 results differ in their last bits, and a last-bit
change is enough to move a LightGBM split, a grid choice or a word2vec trajectory: the embedded
bench run on a Xeon with AVX-512 and AMX differed from the tables made on an AVX2 machine in every
file (the hybrid's rerank NDCG@10 0.9872 vs 0.9862, a word2vec clustering ARI 1.0 vs 0.966).
The variables below make every one of those libraries take its AVX2 path (MKL's ``MKL_CBWR`` is
its conditional numerical reproducibility switch, guaranteed on Intel CPUs). Measured with them:
the embedded search and tagrec files made on that Xeon equal those of an AMD EPYC with AVX2 only;
the other files still differed inside the hybrids' fitted models, the fine-tuned taxonomy tags'
F1 and transformer_whiten on a small word set (see ``tests/test_reproduce.py``). They take effect
only when the libraries load, so the command line sets them before it imports NumPy; a variable
the user has set is left as it is. Linux only (the CPU flags come from ``/proc/cpuinfo``).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

from tagrank.baselines.cpu import cpu_flags, is_x86_64

#: variable -> value: the AVX2 code path of OpenBLAS, MKL, oneDNN and torch's kernels
AVX2_ENV = {
    "OPENBLAS_CORETYPE": "Haswell",
    "MKL_CBWR": "AVX2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "ATEN_CPU_CAPABILITY": "avx2",
}


def pin_avx2_numerics(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set :data:`AVX2_ENV` in ``environ`` (default ``os.environ``) where unset, on an x86-64 CPU
    with AVX2 (elsewhere nothing: another CPU has no such path to choose); returns what it set.
    Call it before NumPy, SciPy or torch are imported, or it changes nothing in this process."""
    env = os.environ if environ is None else environ
    if not is_x86_64() or "avx2" not in cpu_flags():
        return {}
    chosen = {key: value for key, value in AVX2_ENV.items() if key not in env}
    env.update(chosen)
    return chosen


__all__ = ["AVX2_ENV", "pin_avx2_numerics"]
