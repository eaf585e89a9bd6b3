"""What the CPU can do, read without importing any numeric library (stdlib only).

:func:`cpu_flags` feeds the encoder's precision choice (native bfloat16 or not) and the
benchmark's choice of floating-point code paths (:mod:`tagrank.eval.numerics`), which must be
made before NumPy or torch load.
"""

from __future__ import annotations

import platform

_CPU_FLAGS: frozenset[str] | None = None


def cpu_flags() -> frozenset[str]:
    """The CPU's instruction-set flags (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    global _CPU_FLAGS
    if _CPU_FLAGS is None:
        flags: set[str] = set()
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as fh:
                for line in fh:
                    if line.startswith("flags"):
                        flags.update(line.split(":", 1)[1].split())
                        break
        except OSError:
            pass
        _CPU_FLAGS = frozenset(flags)
    return _CPU_FLAGS


def is_x86_64() -> bool:
    """True on an x86-64 (AMD64) processor."""
    return platform.machine().lower() in ("x86_64", "amd64")


__all__ = ["cpu_flags", "is_x86_64"]
