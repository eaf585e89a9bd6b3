"""The ``tagrank`` command line: ``bench``, ``report`` and ``data``."""

from __future__ import annotations

import argparse
import sys

from baselines.validation import TagrankInputError


def _bench(args: argparse.Namespace) -> int:
    from eval.bench import run_bench

    paths = run_bench(
        tasks=args.task, datasets=args.dataset, methods=args.method, data_dir=args.data_dir,
        device=args.device, out=args.out, random_state=args.seed,
        cache_dir=None if args.no_cache else args.cache_dir, show_progress=not args.no_progress,
    )
    for path in paths:
        print(f"wrote {path}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from eval.report import write_report

    for path in write_report(args.results, args.docs, readme=None if args.no_readme else args.readme):
        print(f"wrote {path}")
    return 0


def _data(args: argparse.Namespace) -> int:
    from eval.datasets import dataset_summary, resolve_data_dir

    print(f"data directory: {resolve_data_dir(args.data_dir)}")
    table = dataset_summary(args.data_dir)
    with_pd_options(lambda: print(table.to_string(index=False)))
    return 0


def with_pd_options(fn) -> None:
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 50, "display.max_colwidth", 60):
        fn()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tagrank", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    bench = sub.add_parser("bench", help="run the benchmark protocol and write results files")
    bench.add_argument("--task", action="append", help="task to run (repeatable); default: all")
    bench.add_argument("--dataset", action="append", help="dataset to run (repeatable); default: all of the task")
    bench.add_argument("--method", action="append", help="method to run (repeatable); default: all registered")
    bench.add_argument("--data-dir", default=None, help="real data (default: the embedded sample; or TAGRANK_DATA)")
    bench.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    bench.add_argument("--out", default="benchmarks/results", help="results directory")
    bench.add_argument("--seed", type=int, default=0, help="random_state of every stochastic step")
    bench.add_argument("--cache-dir", default=".tagrank_cache", help="embedding cache directory")
    bench.add_argument("--no-cache", action="store_true", help="do not cache embeddings")
    bench.add_argument("--no-progress", action="store_true", help="hide progress bars")
    bench.set_defaults(func=_bench)

    report = sub.add_parser("report", help="render docs/benchmarks.md and docs/report.html from results")
    report.add_argument("--results", default="benchmarks/results")
    report.add_argument("--docs", default="docs")
    report.add_argument("--readme", default="README.md", help="README whose benchmark tables are refreshed")
    report.add_argument("--no-readme", action="store_true")
    report.set_defaults(func=_report)

    data = sub.add_parser("data", help="list the datasets found and their row counts")
    data.add_argument("--data-dir", default=None)
    data.set_defaults(func=_data)
    return parser


def main(argv: list[str] | None = None) -> int:
    from eval.results import set_command

    args = build_parser().parse_args(argv)
    set_command(["tagrank", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.func(args)
    except TagrankInputError as exc:
        print(f"tagrank {args.command}: error: {exc}", file=sys.stderr)
        return 2
    finally:
        set_command(None)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
