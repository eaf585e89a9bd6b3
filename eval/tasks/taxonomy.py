"""Task ``taxonomy``: product categorisation and tag systems (``fashion``; embedded ``sample``).

Unit = product; products are split by the hash of their id (``item_id``).

* **Classification** (per taxonomy level): ``jaccard`` = k-nearest neighbours
  over character n-gram sets (k chosen on valid among ``KNN_GRID`` jointly
  with the method's grid, votes weighted by Jaccard similarity); every other text method = multinomial
  logistic regression over its ``transform(texts)`` representation
  (:class:`hybrid.categoriser.Categoriser`). Predictions are whole known paths
  (a child always inside its parent). Metrics ``<level>.accuracy`` and
  ``<level>.macro_f1`` (macro over the classes present in the test truth or
  the predictions); primary = ``<last level>.macro_f1`` (``articleType`` for
  fashion, ``level3`` for ``sample``).
* **Multi-label attribute tags** (methods with a representation): the set of
  ``"<attribute>=<value>"`` tags of a product (empty values skipped),
  one-vs-rest with per-tag thresholds chosen on valid; ``tags_micro_f1`` and
  ``tags_macro_f1`` (macro over the tags present in the test truth or the
  predictions).
* **Clustering**: k-means over each representation of the test products with
  k = the number of distinct last-level classes among them; ``cluster.ari``
  and ``cluster.nmi`` against the last level.
* ``hybrid`` (kind ``task``): built from the fitted categorisers in
  ``ctx.fitted`` (:class:`hybrid.stacked_categoriser.StackedCategoriser`), then
  ``fit(train texts, train paths, valid texts, valid paths)``: LightGBM
  LambdaRank over the base methods' out-of-fold path scores on train (3 folds;
  each base refitted on the other folds, its fitted representation reused),
  early-stopped on valid, reported on test.

Which label columns are taxonomy levels: ``dataset.taxonomy_levels`` when the
dataset has it (an int or the level names), else ``TAXONOMY_LEVELS[name]``,
else the first ``DEFAULT_LEVELS`` (3) label columns; the remaining label
columns are attributes.

Intervals: 95% bootstrap over test products (1,000 resamples, seed 0) for
accuracy, macro-F1 and the tag F1s; F1 is not a mean of units, so each
resample recomputes it. ``hybrid`` vs the best single method: paired bootstrap
of the primary macro-F1 over the same test products.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from tagrank.baselines.validation import TagrankInputError
from tagrank.eval import stats
from tagrank.eval.datasets import Dataset
from tagrank.eval.methods import MethodContext, MethodSpec
from tagrank.eval.results import build_results
from tagrank.eval.splits import TEST, TRAIN, VALID, hash_split
from tagrank.eval.tasks.common import (
    CI_SEED,
    N_RESAMPLES,
    Scored,
    Timer,
    device_of,
    hybrid_vs_best,
    method_comparisons,
    method_result,
    params_of,
    select_params,
    timed,
)

TAXONOMY_LEVELS = {"fashion": 3, "sample": 3}
DEFAULT_LEVELS = 3
KNN_GRID = (1, 3, 5, 10, 20)
KNN_METHODS = ("jaccard",)
TAG_SEPARATOR = "="


# ----------------------------------------------------------------------------- data


def label_layout(dataset: Dataset) -> tuple[list[str], list[str]]:
    """(taxonomy level columns, attribute columns) of a dataset's ``label_columns`` (see module doc)."""
    if dataset.labels is None or not dataset.label_columns:
        raise TagrankInputError(f"dataset {dataset.name!r} has no labels / label_columns for the taxonomy task")
    cols = list(dataset.label_columns)
    declared = getattr(dataset, "taxonomy_levels", None)
    if declared is not None and not isinstance(declared, int):
        levels = list(declared)
        unknown = [c for c in levels if c not in cols]
        if unknown:
            raise TagrankInputError(f"taxonomy_levels {unknown} are not label columns {cols}")
        return levels, [c for c in cols if c not in levels]
    n = int(declared) if declared is not None else TAXONOMY_LEVELS.get(dataset.name, DEFAULT_LEVELS)
    if not 1 <= n <= len(cols):
        raise TagrankInputError(f"dataset {dataset.name!r}: {n} taxonomy levels but label_columns are {cols}")
    return cols[:n], cols[n:]


def tag_sets(frame: pd.DataFrame, attributes: list[str]) -> list[set[str]]:
    """``{"<attribute>=<value>"}`` per row; empty / missing values are skipped."""
    out: list[set[str]] = [set() for _ in range(len(frame))]
    for col in attributes:
        for i, v in enumerate(frame[col].tolist()):
            if isinstance(v, str) and v.strip():
                out[i].add(f"{col}{TAG_SEPARATOR}{v.strip()}")
    return out


class TaxonomyData:
    """Split products and their paths / tag sets, computed once per dataset."""

    def __init__(self, dataset: Dataset):
        self.levels, self.attributes = label_layout(dataset)
        labels = dataset.labels.reset_index(drop=True)
        for col in ("item_id", "text", *self.levels):
            if col not in labels.columns:
                raise TagrankInputError(f"dataset {dataset.name!r}: labels has no column {col!r}")
        split = hash_split(labels["item_id"].astype(str).tolist())
        self.parts = {s: labels[split == s].reset_index(drop=True) for s in (TRAIN, VALID, TEST)}
        for s, part in self.parts.items():
            if len(part) == 0:
                raise TagrankInputError(f"dataset {dataset.name!r}: the {s} split is empty")

    def texts(self, split: str) -> list[str]:
        return self.parts[split]["text"].tolist()

    def paths(self, split: str) -> list[list[str]]:
        return self.parts[split][self.levels].astype(str).to_numpy().tolist()

    def tags(self, split: str) -> list[set[str]]:
        return tag_sets(self.parts[split], self.attributes)

    @property
    def primary(self) -> str:
        return f"{self.levels[-1]}.macro_f1"


# ----------------------------------------------------------------------------- metrics


class LabelCoder:
    """One integer code per label of a level, shared by every method (None / unknown = the last code)."""

    def __init__(self, labels: list[str]):
        self.index = {label: i for i, label in enumerate(sorted(set(labels)))}
        self.n_classes = len(self.index) + 1

    def __call__(self, values: Any) -> np.ndarray:
        other = self.n_classes - 1
        return np.fromiter((self.index.get(v, other) if isinstance(v, str) else other for v in values),
                           dtype=np.int64, count=len(values))


def macro_f1_codes(pred: np.ndarray, truth: np.ndarray, n_classes: int) -> float:
    """Macro-F1 over the classes present in ``pred`` or ``truth`` (sklearn's macro with labels=None)."""
    tp = np.bincount(truth[pred == truth], minlength=n_classes)
    denom = np.bincount(pred, minlength=n_classes) + np.bincount(truth, minlength=n_classes)
    active = denom > 0
    return float(np.mean(2.0 * tp[active] / denom[active]))


def level_scores(
    pred: pd.DataFrame, truth: list[list[str]], levels: list[str], coders: dict[str, LabelCoder]
) -> tuple[dict, dict, dict]:
    """Per level: accuracy and macro-F1 with bootstrap intervals; per-unit codes for paired tests."""
    values, cis, per_unit = {}, {}, {}
    for lv, name in enumerate(levels):
        coder = coders[name]
        tc = coder([p[lv] for p in truth])
        pc = coder(pred[name].tolist())
        correct = (pc == tc).astype(np.float64)
        values[f"{name}.accuracy"] = float(correct.mean())
        cis[f"{name}.accuracy"] = list(stats.bootstrap_ci(correct, n_resamples=N_RESAMPLES, random_state=CI_SEED))
        values[f"{name}.macro_f1"] = macro_f1_codes(pc, tc, coder.n_classes)
        cis[f"{name}.macro_f1"] = list(stats.bootstrap_ci_statistic(
            lambda idx, pc=pc, tc=tc, n=coder.n_classes: macro_f1_codes(pc[idx], tc[idx], n),
            len(tc), n_resamples=N_RESAMPLES, random_state=CI_SEED,
        ))
        per_unit[f"{name}.pred"] = pc
    return values, cis, per_unit


def indicator(sets: list[set[str]], columns: list[str]) -> np.ndarray:
    index = {c: j for j, c in enumerate(columns)}
    out = np.zeros((len(sets), len(columns)), dtype=bool)
    for i, row in enumerate(sets):
        for tag in row:
            out[i, index[tag]] = True
    return out


def tag_scores(pred: list[set[str]], truth: list[set[str]]) -> tuple[dict, dict]:
    """``tags_micro_f1`` / ``tags_macro_f1`` with bootstrap intervals over products."""
    from tagrank.hybrid.multilabel import multilabel_f1

    columns = sorted(set().union(*pred, *truth))
    if not columns:
        return {}, {}
    p, t = indicator(pred, columns), indicator(truth, columns)
    full = multilabel_f1(p, t)
    values = {f"tags_{k}": v for k, v in full.items()}
    cis = {}
    for key in ("micro_f1", "macro_f1"):
        cis[f"tags_{key}"] = list(stats.bootstrap_ci_statistic(
            lambda idx, key=key: multilabel_f1(p[idx], t[idx])[key], len(t),
            n_resamples=N_RESAMPLES, random_state=CI_SEED,
        ))
    return values, cis


def paired_macro_f1(primary: str, truth: np.ndarray, n_classes: int):
    """Paired bootstrap over the same test products of the difference in the primary macro-F1."""
    level = primary.rsplit(".", 1)[0]

    def run(a: Scored, b: Scored) -> dict[str, Any]:
        res = stats.paired_test(
            a.per_unit[f"{level}.pred"].astype(np.float64), b.per_unit[f"{level}.pred"].astype(np.float64),
            test="bootstrap", n_resamples=N_RESAMPLES, random_state=CI_SEED,
            statistic=lambda v, idx: macro_f1_codes(v.astype(np.int64), truth[idx], n_classes),
        )
        res["test"] = "paired bootstrap of macro-F1"
        return res

    return run


# ----------------------------------------------------------------------------- protocol


class MemoRepresentation:
    """A fitted representation whose ``transform`` computes each distinct text once.

    The protocol transforms the same train / valid / test texts for the classifier,
    the tagger, the clusterer and the hybrid's out-of-fold refits (subsets of train);
    with an encoder each pass costs minutes. Rows of texts already seen are gathered
    from the stored matrices; only unseen texts are transformed.
    """

    def __init__(self, inner: Any):
        self.inner_ = inner
        self._banks: list[Any] = []
        self._where: dict[str, tuple[int, int]] = {}

    def transform(self, texts: list[str]) -> Any:
        import scipy.sparse as sp

        texts = list(texts)
        new = list(dict.fromkeys(t for t in texts if t not in self._where))
        if new:
            bank = self.inner_.transform(new)
            bank = sp.csr_matrix(bank) if sp.issparse(bank) else np.asarray(bank)
            b = len(self._banks)
            self._banks.append(bank)
            for i, t in enumerate(new):
                self._where[t] = (b, i)
        loc = np.asarray([self._where[t] for t in texts], dtype=np.int64).reshape(len(texts), 2)
        if len(self._banks) == 1 or (len(loc) and (loc[:, 0] == loc[0, 0]).all()):
            return self._banks[int(loc[0, 0]) if len(loc) else 0][loc[:, 1]]
        parts, order = [], []
        for b in np.unique(loc[:, 0]):
            rows = np.flatnonzero(loc[:, 0] == b)
            parts.append(self._banks[b][loc[rows, 1]])
            order.append(rows)
        stacked = sp.vstack(parts).tocsr() if sp.issparse(parts[0]) else np.vstack(parts)
        inverse = np.empty(len(texts), dtype=np.int64)
        inverse[np.concatenate(order)] = np.arange(len(texts))
        return stacked[inverse]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["inner_"], name)


def _categoriser(spec: MethodSpec, est: Any, levels: list[str], ctx: MethodContext, train_texts: list[str]):
    """A knn categoriser over ``jaccard`` (or any scorer without transform), else logistic regression
    over the scorer's representation fitted on the train texts (memoised)."""
    from tagrank.hybrid.categoriser import Categoriser

    knn = spec.name in KNN_METHODS or not hasattr(est, "transform")
    if not knn:
        est.fit(train_texts)
        est = MemoRepresentation(est)
    return Categoriser(
        representation=est, classifier="knn" if knn else "logreg", levels=levels,
        n_neighbors=max(KNN_GRID), language=ctx.language, random_state=ctx.random_state,
    )


def run(dataset: Dataset, specs: list[MethodSpec], base_ctx: MethodContext) -> list[dict[str, Any]]:
    """Run every method on one taxonomy dataset; returns one results document."""
    data = TaxonomyData(dataset)
    levels = data.levels
    primary = data.primary
    train_texts, valid_texts, test_texts = data.texts(TRAIN), data.texts(VALID), data.texts(TEST)
    train_paths, valid_paths, test_paths = data.paths(TRAIN), data.paths(VALID), data.paths(TEST)
    train_tags, valid_tags, test_tags = data.tags(TRAIN), data.tags(VALID), data.tags(TEST)
    last = [p[-1] for p in test_paths]
    n_clusters = len(set(last))
    ctx = base_ctx.for_dataset(
        "taxonomy", dataset,
        data={"taxonomy": data, "levels": levels, "train": data.parts[TRAIN], "valid": data.parts[VALID],
              "test": data.parts[TEST]},
    )

    coders = {name: LabelCoder([p[lv] for split in (train_paths, valid_paths, test_paths) for p in split])
              for lv, name in enumerate(levels)}
    last_coder = coders[levels[-1]]
    valid_truth = last_coder([p[-1] for p in valid_paths])
    test_truth = last_coder(last)

    def valid_primary(pred: pd.DataFrame) -> float:
        return macro_f1_codes(last_coder(pred[levels[-1]].tolist()), valid_truth, last_coder.n_classes)

    rows, scored = {}, {}
    for spec in tqdm(specs, desc=f"taxonomy/{dataset.name}", disable=not base_ctx.show_progress):
        fit_t, score_t = Timer(), Timer()
        extra: dict[str, Any] = {}
        if spec.kind == "text":

            def fit(params: dict[str, Any], timer: Timer | None = None, spec=spec):
                with timed(timer or Timer()):
                    est = spec.build(ctx, **params)
                    cat = _categoriser(spec, est, levels, ctx, train_texts).fit(train_texts, train_paths)
                return cat

            # selection and the reported model share the train fit: each grid point is fitted once
            kept: dict[str, tuple[Any, Timer, dict[str, float]]] = {}

            def valid_score(params: dict[str, Any], fit=fit, kept=kept) -> float:
                timer = Timer()
                cat = fit(params, timer)
                k_scores = choose_k(cat)
                score = max(k_scores.values())
                if not kept or score > max(v[2]["score"] for v in kept.values()):
                    kept.clear()
                    kept[repr(sorted(params.items()))] = (cat, timer, {**k_scores, "score": score})
                return score

            def choose_k(cat: Any) -> dict[Any, float]:
                """knn: every k of KNN_GRID from one neighbour search at the largest k."""
                if cat.classifier != "knn":
                    return {None: valid_primary(cat.predict(valid_texts))}
                nb_rows, nb_sims = cat.neighbours(valid_texts, max(KNN_GRID))
                return {k: valid_primary(cat.decode(cat.posterior_from_neighbours(nb_rows[:, :k], nb_sims[:, :k])))
                        for k in KNN_GRID}

            chosen, grid_scores = select_params(spec, ctx, valid_score)
            hit = kept.get(repr(sorted(chosen.items())))
            if hit is not None:
                cat, fit_t, k_scores = hit
                k_scores = {k: v for k, v in k_scores.items() if k != "score"}
            else:
                cat = fit(chosen, fit_t)
                k_scores = choose_k(cat)
            if cat.classifier == "knn":
                best_k = max(KNN_GRID, key=lambda k: (k_scores[k], -k))
                cat.n_neighbors = best_k
                chosen = {**chosen, "n_neighbors": best_k}
                extra["valid_knn"] = {str(k): v for k, v in k_scores.items()}
            rep = cat.representation_
            est, device = cat, device_of(getattr(rep, "inner_", rep), ctx)
            with timed(score_t):
                pred = cat.predict(test_texts)
        elif spec.kind == "task":

            def fit_task(params: dict[str, Any], timer: Timer | None = None, spec=spec):
                with timed(timer or Timer()):
                    est = spec.build(ctx, **params)
                    est.fit(train_texts, train_paths, valid_texts, valid_paths)
                return est

            chosen, grid_scores = select_params(spec, ctx, lambda p: 0.0)
            est = fit_task(chosen, fit_t)
            rep = getattr(est, "representation_", None)
            device = device_of(rep, ctx) if rep is not None else "cpu"
            if rep is not None and hasattr(rep, "history_"):
                extra["curve"] = list(rep.history_)
            if rep is not None and hasattr(rep, "transform"):
                # the tagger and the clusterer below transform the same texts again: memoise
                est.representation_ = MemoRepresentation(rep)
            with timed(score_t):
                pred = est.predict(test_texts)
        else:
            raise TagrankInputError(f"method {spec.name!r} of kind {spec.kind!r} has no taxonomy recipe")
        ctx.fitted[spec.name] = est

        values, cis, per_unit = level_scores(pred, test_paths, levels, coders)
        rep = getattr(est, "representation_", None)
        if rep is not None and hasattr(rep, "transform"):
            # the valid / test memo entries are reused by the tagger and the clusterer
            from tagrank.hybrid.multilabel import MultiLabelTagger
            from tagrank.hybrid.tag_clustering import TagClusterer

            if data.attributes and any(train_tags) and any(valid_tags):
                tag_t = Timer()
                with timed(tag_t):
                    tagger = MultiLabelTagger(representation=rep, thresholds="valid", random_state=ctx.random_state)
                    tagger.fit(train_texts, train_tags, valid_texts, valid_tags)
                    predicted = tagger.predict(test_texts)
                v, c = tag_scores(predicted, test_tags)
                values.update(v)
                cis.update(c)
                extra["tags_s"] = round(tag_t.seconds, 4)
                extra["n_tags"] = len(tagger.tags_)
            if 2 <= n_clusters <= len(test_texts):
                cl_t = Timer()
                with timed(cl_t):
                    clusterer = TagClusterer(k=n_clusters, representation=rep, random_state=ctx.random_state)
                    clusterer.fit(test_texts)
                    cs = clusterer.score(last)
                values["cluster.ari"], values["cluster.nmi"] = cs["ari"], cs["nmi"]
                extra["cluster_s"] = round(cl_t.seconds, 4)
                extra["cluster_k"] = n_clusters
        s = Scored(metrics=values, ci95=cis, per_unit=per_unit, extra=extra)
        if grid_scores:
            s.extra["valid_grid"] = grid_scores
        scored[spec.name] = s
        rows[spec.name] = method_result(s, fit_t.seconds, score_t.seconds, device, params_of(est, chosen))

    split = {
        "unit": "product", "train": len(train_texts), "valid": len(valid_texts), "test": len(test_texts),
        "excluded": 0, "key": "item_id",
    }
    seen_last = {q[-1] for q in train_paths}
    unseen = sum(1 for p in test_paths if p[-1] not in seen_last)
    extra_doc = {
        "levels": levels, "attributes": data.attributes, "cluster_k": n_clusters,
        "test_products_with_unseen_last_level": unseen,
        "classes": {name: int(data.parts[TRAIN][name].nunique()) for name in levels},
    }
    paired = paired_macro_f1(primary, test_truth, last_coder.n_classes)
    comparison = hybrid_vs_best(scored, primary, paired)
    comparisons = method_comparisons(scored, primary, paired)
    if comparisons:
        extra_doc["comparisons"] = comparisons
    return [build_results("taxonomy", dataset.name, None, primary, split, rows, comparison, extra_doc)]
