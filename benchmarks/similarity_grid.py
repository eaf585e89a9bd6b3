"""Why the ``similarity`` hybrid barely beats ``transformer_ft``: a grid over its regressor.

Rebuilds the similarity hybrid's data as ``tagrank bench`` does with the default
``fit_on="crossfit"``: every other method fitted and selected on valid exactly
as the protocol does; ``transformer_ft`` read from the model directories a
bench run wrote under ``<cache>/finetuned/`` (the full model, and the fold
models in fold order); the train pairs' ``transformer_ft`` score from the fold
model that did not learn the pair. Then it fits the regressor with each
parameter set of ``GRID`` (early-stopped on valid Spearman) and prints valid
Spearman -- the selection metric -- and test Spearman with the protocol's paired
bootstrap p against ``transformer_ft`` alone.

``--train-folds N`` trains N fold models instead (the recipe read from a
results file's ``transformer_ft`` params, e.g. to see whether more folds help).
``--fold-mean`` adds the same grid with valid and test scored by the *mean of
the fold models* in place of the full model (the other usual way to serve a
stacked model), and the fold mean alone.

Nothing is written to the results files: this is evidence for the issue's
"find out why", not a benchmark table.

    python benchmarks/similarity_grid.py --data-dir ../shared/data --dataset stsb_en \\
        --ft .tagrank_cache/finetuned/similarity-stsb_en-cosine_mse-<full> \\
        --fold .tagrank_cache/finetuned/similarity-stsb_en-cosine_mse-fold0-<id> ...
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

GRID: list[dict] = [
    {},  # the hybrid's defaults
    {"learning_rate": 0.01, "early_stopping_rounds": 100},
    {"num_leaves": 7, "min_child_samples": 50},
    {"num_leaves": 7, "min_child_samples": 100, "learning_rate": 0.01, "early_stopping_rounds": 100},
    {"feature_fraction": 0.7, "bagging_fraction": 0.8, "bagging_freq": 1},
    {"num_leaves": 7, "min_child_samples": 50, "feature_fraction": 0.7, "bagging_fraction": 0.8,
     "bagging_freq": 1, "lambda_l2": 10.0},
    {"objective": "huber"},
    {"extra_params": {"linear_tree": True}},
    {"extra_params": {"linear_tree": True, "linear_lambda": 1.0}, "num_leaves": 7, "min_child_samples": 50},
]
#: ``--grid selection``: the candidates ``hybrid`` itself now selects from on valid (``SIMILARITY_GRID``)
SELECTION_GRID: list[dict] = [
    {"num_leaves": leaves, "min_child_samples": child, **({"extra_params": {"linear_tree": True}} if linear else {})}
    for linear in (False, True) for leaves in (15, 7) for child in (20, 50, 100)
]
SOURCES = ("jaccard", "tfidf", "word2vec", "transformer_cls", "transformer", "transformer_whiten")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--dataset", default="stsb_en")
    parser.add_argument("--ft", required=True, help="the full transformer_ft model directory")
    parser.add_argument("--fold", action="append", default=[], help="fold model directories, in fold order")
    parser.add_argument("--train-folds", type=int, default=0,
                        help="instead of --fold: train this many fold models with the full model's recipe")
    parser.add_argument("--recipe-from", default="benchmarks/results/similarity/stsb_en.json",
                        help="with --train-folds: the results file whose transformer_ft params hold the recipe")
    parser.add_argument("--cache-dir", default=".tagrank_cache")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fold-mean", action="store_true")
    parser.add_argument("--grid", choices=("explore", "selection"), default="explore")
    args = parser.parse_args()
    if not args.fold and not args.train_folds:
        parser.error("give the fold model directories (--fold, repeated) or --train-folds N")

    from tagrank.eval import metrics
    from tagrank.eval.datasets import load_dataset
    from tagrank.eval.finetune_methods import _scorer_class
    from tagrank.eval.methods import MethodContext, methods_for
    from tagrank.eval.splits import TEST, TRAIN, VALID
    from tagrank.eval.tasks.common import fit_text, select_params
    from tagrank.eval.tasks.similarity import paired_correlation_test, score_metrics, split_pairs
    from tagrank.hybrid.crossfit import CrossFittedScorer, pair_folds
    from tagrank.hybrid.features import FeatureBuilder
    from tagrank.hybrid.regressor import HybridRegressor

    dataset = load_dataset(args.dataset, args.data_dir)
    pairs = split_pairs(dataset.pairs)
    parts = {name: pairs[pairs["split"] == name] for name in (TRAIN, VALID, TEST)}
    corpus = sorted(set(pairs["left"]) | set(pairs["right"]))
    from pathlib import Path

    from tagrank.eval.corpora import language_corpus

    ctx = MethodContext(task="similarity", dataset=dataset.name, language=dataset.language, device="cpu",
                        random_state=args.seed, cache_dir=Path(args.cache_dir), show_progress=False,
                        training_texts=lambda: list(language_corpus(dataset.language, Path(args.data_dir), False)[0]),
                        data={"train": parts[TRAIN], "valid": parts[VALID], "corpus": corpus, "binary": False})
    valid, test = parts[VALID], parts[TEST]
    t0 = time.perf_counter()
    scorers = {}
    for spec in methods_for("similarity", list(SOURCES)):
        def build(params: dict, spec=spec):
            est = spec.build(ctx, **params)
            return fit_text(est, corpus, None, ctx) if spec.kind == "text" else est

        chosen, _ = select_params(spec, ctx, lambda p, build=build: metrics.spearman(
            build(p).score_pairs(valid["left"].tolist(), valid["right"].tolist()), valid["score"].to_numpy(float)))
        scorers[spec.name] = build(chosen)

    def finetuned(path: str, texts: list[str]):
        return _scorer_class()(model=path, pooling="mean", normalize=True, max_length=64, device="cpu",
                               show_progress=False, cache_dir=args.cache_dir).fit(texts)

    scorers["transformer_ft"] = finetuned(args.ft, corpus)
    train = parts[TRAIN]
    left, right = train["left"].tolist(), train["right"].tolist()
    if args.train_folds:
        # retrain the full model's recorded recipe on --train-folds folds, as the hybrid's cross-fitting does
        from tagrank.eval.finetune_methods import similarity_cross_fitted
        from tagrank.eval.results import read_results

        doc = read_results(args.recipe_from)
        methods = doc["methods"] if isinstance(doc["methods"], dict) else {m["name"]: m for m in doc["methods"]}
        scorers["transformer_ft"].training_params_ = dict(methods["transformer_ft"]["params"])
        crossed = similarity_cross_fitted(ctx, scorers["transformer_ft"], args.train_folds)
        fold_models = [scorer for scorer, _ in crossed.folds]
        print(f"fold models: {json.dumps(crossed.fold_params_)}", flush=True)
    else:
        fold = pair_folds(left, right, len(args.fold))
        fold_models = [finetuned(path, corpus) for path in args.fold]
        held = [sorted({(left[i], right[i]) for i in np.flatnonzero(fold == f)}) for f in range(len(args.fold))]
        crossed = CrossFittedScorer(scorers["transformer_ft"], list(zip(fold_models, held, strict=True)), by="pair")
    print(f"sources ready in {time.perf_counter() - t0:.0f} s", flush=True)

    def builder(sources: dict):
        return FeatureBuilder(sources, kind="text", group_stats=False, text_stats=True,
                              language=dataset.language).fit()

    def frame(pairs, b):
        feats = b.transform(pairs["left"].tolist(), pairs["right"].tolist())
        feats["__label"] = pairs["score"].to_numpy(np.float64)
        return feats

    full_builder = builder(scorers)
    tr = frame(train, builder({**scorers, "transformer_ft": crossed}))
    views = {"full": (frame(valid, full_builder), frame(test, full_builder))}
    if args.fold_mean:
        views["fold_mean"] = tuple(
            v.assign(transformer_ft=np.mean([m.score_pairs(p["left"].tolist(), p["right"].tolist())
                                             for m in fold_models], axis=0))
            for v, p in zip(views["full"], (valid, test), strict=True))
    names = [c for c in tr.columns if c != "__label"]
    truth_v, truth_t = valid["score"].to_numpy(float), test["score"].to_numpy(float)
    paired = paired_correlation_test("spearman")
    ft_test = score_metrics(views["full"][1]["transformer_ft"].to_numpy(), truth_t, False)
    print(f"features: {names}")
    for view, (va, te) in views.items():
        alone_v = metrics.spearman(va["transformer_ft"].to_numpy(), truth_v)
        alone_t = score_metrics(te["transformer_ft"].to_numpy(), truth_t, False)
        print(f"[{view}] transformer_ft alone: valid {alone_v:.4f} test {alone_t.metrics['spearman']:.4f}")
        for overrides in GRID if args.grid == "explore" else SELECTION_GRID:
            params = {"random_state": args.seed, "metric": "spearman", **overrides}
            model = HybridRegressor(**params).fit(tr, "__label", names, valid=va)
            s = score_metrics(model.predict(te), truth_t, False)
            cmp = paired(s, ft_test)
            print(f"[{view}] {json.dumps(overrides)} trees {model.best_iteration_} "
                  f"valid {metrics.spearman(model.predict(va), truth_v):.4f} test {s.metrics['spearman']:.4f} "
                  f"delta {cmp['delta']:+.4f} p {cmp['p_value']:.3f}", flush=True)


if __name__ == "__main__":
    main()
