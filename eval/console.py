"""The ``tagrank`` console script: fixes the numeric code paths for ``bench``, then runs the CLI.

``tagrank bench`` pins the AVX2 code paths of the numeric libraries
(:func:`tagrank.eval.numerics.pin_avx2_numerics`) so that its tables are the same on every
x86-64 CPU; that must happen before NumPy loads, so this module imports nothing else first.
``--native-isa`` skips it (faster on AVX-512 / AMX CPUs, numbers then depend on the CPU).
"""

from __future__ import annotations

import sys


def _command(argv: list[str]) -> str | None:
    """The subcommand in ``argv`` (its first argument that is not an option)."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else list(argv)
    if _command(raw) == "bench" and "--native-isa" not in raw:
        from tagrank.eval.numerics import pin_avx2_numerics

        pin_avx2_numerics()
    from tagrank.eval.cli import main as cli_main

    return cli_main(raw)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
