"""A cross-fitted ensemble of LightGBM models served as one: K fold models averaged into a single booster.

With few training queries (a few hundred users, a few hundred search
queries), one LambdaRank model early-stopped on a 20% hold-out is noisy twice
over: the hold-out is too small to pick the number of trees (fold optima of
the same data range from 14 to 171 trees) and the model learns from only 80%
of the queries. :func:`fit_folds` trains one model per query fold instead, all
stopped at the round where their *mean* held-out NDCG peaks (LightGBM's own
``lightgbm.cv``), so every query is used for training K - 1 times and for
choosing the stopping round once; the served model is their average, which
cancels much of each fold model's variance. Every query also gets a held-out
score from the fold model that did not see it (``oof``): the guard's evidence.

A LightGBM raw score is the sum of its trees' leaf values, so the average of K
boosters is one booster holding all their trees with every leaf value divided
by K (:func:`average_boosters`). The ensemble is therefore an ordinary LightGBM
text model: saved, loaded, explained (SHAP values are additive too) and served
exactly like a single model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from tagrank.baselines.validation import TagrankInputError

#: the per-tree lines holding values of the raw score (scaled when boosters are averaged)
_SCALED = ("leaf_value=", "internal_value=")
_TREE = re.compile(r"^Tree=\d+$", re.MULTILINE)


def _tree_blocks(model_text: str) -> tuple[str, list[str], str]:
    """(header, tree blocks, trailer) of a LightGBM text model."""
    end = model_text.index("end of trees")
    starts = [m.start() for m in _TREE.finditer(model_text, 0, end)]
    if not starts:
        raise TagrankInputError("a fold model has no trees: nothing to average")
    header = model_text[: starts[0]]
    blocks = [model_text[a:b] for a, b in zip(starts, [*starts[1:], end], strict=True)]
    return header, blocks, model_text[end:]


def _scaled_block(block: str, factor: float, number: int) -> str:
    lines = block.rstrip("\n").split("\n")
    out = [f"Tree={number}"]
    for line in lines[1:]:
        if line == "is_linear=1":
            raise TagrankInputError("n_folds cannot average models with linear trees (extra_params linear_tree)")
        key = next((k for k in _SCALED if line.startswith(k)), None)
        if key is not None:
            values = np.asarray(line[len(key):].split(), dtype=np.float64) * factor
            line = key + " ".join(repr(float(v)) for v in values)
        out.append(line)
    return "\n".join(out) + "\n\n\n"


def average_boosters(boosters: Sequence[Any], num_iteration: int) -> Any:
    """One LightGBM booster whose raw score is the mean of ``boosters``' raw scores at ``num_iteration``."""
    import lightgbm as lgb

    if not boosters:
        raise TagrankInputError("no fold model to average")
    factor = 1.0 / len(boosters)
    header, trees = "", []
    trailer = ""
    for i, booster in enumerate(boosters):
        head, blocks, tail = _tree_blocks(booster.model_to_string(num_iteration=num_iteration))
        if i == 0:
            header = "\n".join(line for line in head.split("\n") if not line.startswith("tree_sizes="))
            trailer = tail
        trees.extend(blocks)
    body = "".join(_scaled_block(block, factor, n) for n, block in enumerate(trees))
    merged = lgb.Booster(model_str=header + body + trailer)
    return lgb.Booster(model_str=merged.model_to_string(num_iteration=-1))  # normalised text (tree sizes)


def fit_folds(params: dict[str, Any], x: np.ndarray, grades: np.ndarray, sizes: np.ndarray, names: list[str],
              n_folds: int, n_estimators: int, early_stopping_rounds: int | None, random_state: int
              ) -> dict[str, Any]:
    """Train ``n_folds`` LambdaRank models on query folds of (``x``, ``grades``, group ``sizes``).

    Returns ``booster`` (their average at the best mean round), ``best_iteration``, ``curve``
    (mean held-out metric per round, the first metric), ``oof`` (each row's score from the fold
    model that did not see its query) and ``folds`` (the fold of each query).
    """
    import lightgbm as lgb

    from tagrank.hybrid.guard import fold_codes

    n_queries = len(sizes)
    query_fold = fold_codes(n_queries, n_folds, random_state)
    row_fold = np.repeat(query_fold, sizes)
    k = int(query_fold.max()) + 1
    splits = [(np.flatnonzero(row_fold != f), np.flatnonzero(row_fold == f)) for f in range(k)]
    data = lgb.Dataset(x, label=grades, group=sizes, feature_name=names, free_raw_data=False,
                       params={"verbosity": -1})
    callbacks = []
    if early_stopping_rounds is not None:
        callbacks.append(lgb.early_stopping(int(early_stopping_rounds), first_metric_only=True, verbose=False))
    result = lgb.cv(params, data, num_boost_round=int(n_estimators), folds=splits, callbacks=callbacks,
                    return_cvbooster=True, eval_train_metric=False, seed=int(random_state))
    cv = result.pop("cvbooster")
    means = [key for key in result if key.endswith("-mean")]
    curve = np.asarray(result[means[0]], dtype=np.float64)
    best = int(cv.best_iteration) if cv.best_iteration and cv.best_iteration > 0 else len(curve)
    oof = np.empty(len(x), dtype=np.float64)
    for booster, (_, held) in zip(cv.boosters, splits, strict=True):
        oof[held] = booster.predict(x[held], num_iteration=best)
    return {"booster": average_boosters(cv.boosters, best), "best_iteration": best, "curve": curve,
            "metric": means[0].split(" ", 1)[-1][: -len("-mean")], "oof": oof, "folds": query_fold}
