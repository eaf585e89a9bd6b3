"""Transfer table: the similarity hybrid trained on one dataset, scored on others beside its sources.

    .venv/bin/python benchmarks/similarity_transfer.py --data-dir /work/shared/data \
        --train stsb_en --target wordsim353 --target simlex999 --out benchmarks/results

Every method of the similarity task (``--method``, default: all but ``transformer_ft``, whose
fine-tuning takes ~35 minutes on a quiet machine) is selected on the training dataset's valid
split and fitted as ``tagrank bench`` fits it; the hybrid (:class:`SimilarityPipeline`, guarded)
is built from them. Each target's pairs -- all of them: nothing is trained on the target -- are
then scored by every method, and one results file per target is written
(``similarity/transfer-<train>-<target>.json``, the spec's fields, with the paired test of the
hybrid against the best single method). The hybrid's ``params.shift`` records what its shift check
saw on the target and what it served.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np


def main() -> None:
    from tagrank.eval.bench import REAL
    from tagrank.eval.corpora import language_corpus
    from tagrank.eval.datasets import load_dataset, resolve_data_dir
    from tagrank.eval.methods import MethodContext, methods_for
    from tagrank.eval.results import write_results
    from tagrank.eval.tasks import similarity as sim
    from tagrank.eval.tasks.common import (
        FitOnce,
        Timer,
        device_of,
        fit_text,
        hybrid_vs_best,
        method_result,
        params_of,
        select_params,
        timed,
    )
    from tagrank.hybrid.guard import DistributionShiftWarning

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--train", default="stsb_en")
    ap.add_argument("--target", action="append", default=None)
    ap.add_argument("--method", action="append", default=None)
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    targets = args.target or ["wordsim353", "simlex999"]
    root = resolve_data_dir(args.data_dir)
    names = args.method or [s.name for s in methods_for("similarity") if s.name not in ("transformer_ft", "random")]
    specs = methods_for("similarity", names)

    dataset = load_dataset(args.train, root)
    pairs = sim.split_pairs(dataset.pairs)
    parts = {s: pairs[pairs["split"] == s] for s in ("train", "valid", "test")}
    corpus = sorted(set(parts["train"]["left"]) | set(parts["train"]["right"]))
    background = tuple(language_corpus(dataset.language, root, False, exclude=(args.train,))[0])
    ctx = MethodContext(task="similarity", dataset=args.train, language=dataset.language, random_state=args.seed,
                        cache_dir=Path(".tagrank_cache"), training_texts=lambda: list(background),
                        show_progress=False,
                        data={"train": parts["train"], "valid": parts["valid"], "corpus": corpus, "binary": False})
    fitted, chosen_of, fit_s = {}, {}, {}
    for spec in specs:
        def build_and_fit(params, spec=spec):
            est = spec.build(ctx, **params)
            if spec.kind == "text":
                fit_text(est, corpus, None, ctx)
            return est

        fit = FitOnce(build_and_fit)

        def valid_score(params, fit=fit) -> float:
            from tagrank.eval import metrics

            est = fit(params)
            pred = est.score_pairs(parts["valid"]["left"].tolist(), parts["valid"]["right"].tolist())
            return metrics.spearman(pred, parts["valid"]["score"].to_numpy(), on_constant="nan")

        timer = Timer()
        chosen, _ = select_params(spec, ctx, valid_score)
        est = fit(chosen, timer)
        ctx.fitted[spec.name] = est
        fitted[spec.name], chosen_of[spec.name], fit_s[spec.name] = est, chosen, timer.seconds
        print(f"fitted {spec.name} in {timer.seconds:.1f}s", flush=True)

    for target in targets:
        if target not in REAL["similarity"]:
            raise SystemExit(f"unknown similarity dataset {target!r}")
        tpairs = load_dataset(target, root).pairs
        left, right = tpairs["left"].tolist(), tpairs["right"].tolist()
        truth = tpairs["score"].to_numpy(float)
        rows, scored = {}, {}
        for name, est in fitted.items():
            score_t = Timer()
            with warnings.catch_warnings(record=True) as caught, timed(score_t):
                warnings.simplefilter("always", DistributionShiftWarning)
                pred = est.score_pairs(left, right)
            s = sim.score_metrics(pred, truth, False)
            params = params_of(est, chosen_of[name])
            if name == "hybrid":
                pipe = est.pipeline
                params["shift"] = {**(pipe.last_shift_ or {}),
                                   "warned": any(issubclass(w.category, DistributionShiftWarning) for w in caught),
                                   "served_on_target": (pipe.shift_fallback() if (pipe.last_shift_ or {}).get("shifted")
                                                        and pipe.on_shift == "fallback" else pipe.served_)}
            scored[name] = s
            rows[name] = method_result(s, fit_s[name], score_t.seconds, device_of(est, ctx), params)
        comparison = hybrid_vs_best(scored, "spearman", sim.paired_correlation_test("spearman"))
        split = {"unit": "pair", "train": len(parts["train"]), "valid": len(parts["valid"]), "test": len(tpairs),
                 "excluded": 0, "key": f"trained on {args.train} (train split, valid for selection); "
                                       f"scored on every {target} pair"}
        notes = (f"Transfer: every method fitted and selected on {args.train} only, scored on all {target} pairs. "
                 "transformer_ft is left out (its fine-tuning takes ~35 minutes on a quiet machine); the hybrid "
                 "combines the sources that need no fine-tuning.") if "transformer_ft" not in fitted else ""
        doc = sim.build_results("similarity", f"transfer-{args.train}", target, "spearman", split, rows, comparison,
                                {"notes": notes} if notes else None)
        print(write_results(doc, args.out), {n: round(s.metrics["spearman"], 4) for n, s in scored.items()},
              comparison, flush=True)
    np.seterr(all="ignore")


if __name__ == "__main__":
    main()
