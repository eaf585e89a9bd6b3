"""The ``tagrank`` console script: fixes the numeric code paths for ``bench``, then runs the CLI.

``tagrank bench`` pins the AVX2 code paths of the numeric libraries
(:func:`tagrank.eval.numerics.pin_avx2_numerics`) so that its tables follow the code, not the CPU's
vector width (what that does and does not reach is measured there); that must happen before
NumPy loads, so this module imports nothing else first.
``--native-isa``, or a ``--dtype`` other than float32, skips it (faster on AVX-512 / AMX CPUs; the
numbers then depend on the CPU).
"""

from __future__ import annotations

import sys


def _command(argv: list[str]) -> str | None:
    """The subcommand in ``argv`` (its first argument that is not an option)."""
    return next((a for a in argv if not a.startswith("-")), None)


def _native(argv: list[str]) -> bool:
    """Whether ``argv`` asks for the CPU's own code paths: ``--native-isa``, or a ``--dtype`` other than
    float32 (bfloat16 on AVX2 code would only be emulated); either option by any abbreviation argparse
    accepts (``--nat``, ``--dt``: shorter ones are ambiguous with other bench options)."""
    for i, arg in enumerate(argv):
        if len(arg) >= 5 and "--native-isa".startswith(arg):
            return True
        name, _, value = arg.partition("=")
        if len(name) >= 4 and "--dtype".startswith(name):
            value = value or (argv[i + 1] if i + 1 < len(argv) else "")
            if value != "float32":
                return True
    return False


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else list(argv)
    if _command(raw) == "bench" and not _native(raw):
        from tagrank.eval.numerics import pin_avx2_numerics

        pin_avx2_numerics()
    from tagrank.eval.cli import main as cli_main

    return cli_main(raw)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
