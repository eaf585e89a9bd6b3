"""Method ``transformer_ft``: the default transformer fine-tuned on the task's train split.

Registered through the ``tagrank.methods`` entry point ``transformer_ft``
(setup.cfg), like every method.

Kind ``task``: the factory of each task trains, then returns a fitted scorer.
Nothing heavy is imported until a factory runs.

``similarity`` (``stsb_en``, ``stsb_zh`` only)
    Cosine-MSE on the train pairs (``loss="cosine_mse"``: the cosine regressed
    on the score normalised by the train range, the Sentence-BERT STS recipe;
    ``loss="cosent"`` is available), best checkpoint by valid Spearman
    (evaluated before training, every ``eval_every`` steps and at the epoch's
    end; early stopping), then a
    :class:`FineTunedTransformerScorer` on the saved model, fitted on
    ``ctx.data["corpus"]``. On any other dataset (word lists, ``lcqmc``: no
    train split worth fine-tuning on) or with fewer than ``MIN_TRAIN_PAIRS``
    train pairs the factory raises :class:`MethodNotApplicable` (a
    ``TagrankInputError``) before any work: a protocol skips the method for that
    dataset by catching it.
``search``
    Pairs are (query key, product title) -- the key is what the protocol scores.
    ``loss="mnrl"``: multiple negatives ranking over the train pairs of
    relevance >= 2.5 (in-batch negatives), best checkpoint by the valid MRR of
    each relevant title among all valid relevant titles. ``loss="cosine_mse"``
    (or ``"cosent"``): every judged train pair with its graded label (1..3),
    best checkpoint by valid Spearman. ``loss="auto"``: train ``mnrl`` and
    ``cosine_mse`` (the graded loss that won on STS-B, below) and keep the one with the higher
    valid rerank NDCG@10 (the protocol's selection metric, computed on the
    valid queries); both valid scores are recorded. Default: ``auto`` on CUDA;
    ``mnrl`` on CPU, where training both would double a cost that is already the
    largest of the benchmark (MNRL is the standard recipe for retrieval, the
    headline setting). On CPU one training is also capped at
    ``CPU_SEARCH_MAX_STEPS`` steps (a seeded random subset of the train pairs).
    The returned scorer is fitted on the catalogue (``data.item_texts``,
    ``data.item_ids``), so the protocol can call ``score_pairs`` and ``top_k``.
``taxonomy``
    An *unfitted* :class:`hybrid.finetune_categoriser.FineTunedCategoriser`:
    one :class:`hybrid.finetune_classifier.TransformerClassifier` whose classes
    are the known full paths (so the prediction is a consistent path, like every
    other categoriser's), fine-tuned with cross-entropy on the train products
    and early-stopped on the valid products' macro-F1 (``TAXONOMY_DEFAULTS``).
    Its fine-tuned encoder is the representation of the multi-label tagger and
    the clusterer. The taxonomy ``hybrid`` stacks it with the other
    categorisers, learning on the valid products (it saw the train labels).

Every scorer returned records its training in ``results_params()`` (merged by
the protocols into the results ``params``: train time and device, steps, best
step, valid metric, hyper-parameters, the base model) and keeps the training
history ``[{step, epoch, loss, valid_metric, lr, elapsed_s}]`` in
``training_curve`` for the report plot.

Measured on stsb_en (all-MiniLM-L6-v2, 1 epoch = 180 steps of 32 pairs,
``max_length`` 64, seed 0, CPU), test Spearman (out of the box: 0.8203):

=====================================  =============  ============  =========
recipe                                 valid (best)   test          selected
=====================================  =============  ============  =========
cosent, lr 2e-5 (early-stopped @135)   0.8718 (@45)   0.8174
cosent, lr 1e-5                        0.8738         0.8230
cosine_mse, lr 2e-5                    0.8915         0.8494
cosine_mse, lr 2e-5, 2 epochs          0.8950         0.8534
cosine_mse, lr 5e-5 (the default)      0.8954         0.8555        yes
=====================================  =============  ============  =========

The recipe was chosen on valid Spearman (CoSENT barely moves this already
contrastively-trained model; the regression loss does). CPU cost of the
default: about 1.9 CPU-seconds per step (one thread), i.e. about 6 minutes
per epoch on one free core (fewer on two), plus about 10 s per validation
(4 of them) and the encoding of the corpus.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Collection
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from tagrank.baselines.validation import TagrankInputError
from tagrank.eval.methods import MethodContext, MethodSpec, register

#: similarity datasets with an official train split large enough to fine-tune on
FT_SIMILARITY_DATASETS = ("stsb_en", "stsb_zh")
#: fewer train pairs than this and fine-tuning is not attempted
MIN_TRAIN_PAIRS = 1000
#: relevance from which a judged (query, product) pair is a positive (the spec's binary relevance)
RELEVANT_LABEL = 2.5
#: on CPU, the search fine-tuning is capped at this many steps (per loss)
CPU_SEARCH_MAX_STEPS = 300

#: fine-tuner defaults per task (overridable through the factory's params / a grid)
SIMILARITY_DEFAULTS: dict[str, Any] = {
    "loss": "cosine_mse", "epochs": 1, "batch_size": 32, "max_length": 64, "learning_rate": 5e-5,
    "warmup_ratio": 0.1, "weight_decay": 0.01, "scale": 20.0, "eval_every": 60, "early_stopping_patience": 2,
}
#: product names are short: 32 tokens keep every fashion name whole and halve the CPU cost of 64.
#: 4 epochs: with 2 (fashion, 1,946 steps) valid macro-F1 was still rising at the last step
#: (0.827; test articleType macro-F1 0.863, 641 s on this CPU)
TAXONOMY_DEFAULTS: dict[str, Any] = {
    "epochs": 4, "batch_size": 32, "max_length": 32, "learning_rate": 5e-5, "head_learning_rate": 1e-3,
    "eval_every": 500, "early_stopping_patience": 3, "valid_metric": "macro_f1",
}
SEARCH_DEFAULTS: dict[str, Any] = {
    "epochs": 1, "batch_size": 32, "max_length": 64, "learning_rate": 2e-5,
    "warmup_ratio": 0.1, "weight_decay": 0.01, "scale": 20.0, "eval_every": 100, "early_stopping_patience": 2,
}


try:  # the registry may define it for every method; until then it lives here
    from tagrank.eval.methods import MethodNotApplicable  # type: ignore[attr-defined]
except ImportError:

    class MethodNotApplicable(TagrankInputError):  # type: ignore[no-redef]
        """A method has no recipe for this dataset (e.g. ``transformer_ft`` on a word list): skip it."""


def _scorer_class() -> type:
    """``FineTunedTransformerScorer`` (defined on first use: keeps torch out of the registry import)."""
    global _SCORER_CLASS
    if _SCORER_CLASS is None:
        from tagrank.hybrid.transformer_scorer import TransformerScorer

        class FineTunedTransformerScorer(TransformerScorer):
            """A ``TransformerScorer`` on a fine-tuned model, carrying its training record."""

            #: it learnt from the task's train labels: a hybrid must not learn from its train scores
            supervised = True

            @property
            def name(self) -> str:  # type: ignore[override]
                return "transformer_ft"

            def results_params(self) -> dict[str, Any]:
                """Training facts and hyper-parameters for the results ``params``."""
                return dict(getattr(self, "training_params_", {}))

        _SCORER_CLASS = FineTunedTransformerScorer
    return _SCORER_CLASS


_SCORER_CLASS: type | None = None


def finetuned_scorer(tuner: Any, ctx: MethodContext, extra: dict[str, Any] | None = None, **scorer_params: Any):
    """An unfitted ``FineTunedTransformerScorer`` on ``tuner.best_dir_`` with the training record attached."""
    cls = _scorer_class()
    scorer_params = {"dtype": ctx.dtype, **scorer_params}
    scorer = cls(
        model=str(tuner.best_dir_), pooling=tuner.pooling, normalize=True,
        max_length=int(tuner.max_length), device=ctx.device, show_progress=ctx.show_progress, **scorer_params,
    )
    hyper = {f"ft.{k}": v for k, v in tuner.get_params().items()
             if k not in ("device", "show_progress", "output_dir", "model", "model_name_or_path")}
    record = {**tuner.summary(), **hyper, **(extra or {})}
    record["model_name_or_path"] = tuner.summary()["base_model"]
    record["finetuned_dir"] = recorded_dir(tuner.best_dir_, ctx)
    record["model"] = record["finetuned_dir"]  # the scorer's model= is that folder: never an absolute path
    scorer.training_params_ = record
    scorer.training_curve = list(tuner.history_)
    scorer.tuner_summary_ = tuner.summary()
    return scorer


_TRAININGS: dict[tuple[str, str, str, int], int] = {}


def _output_dir(ctx: MethodContext, tag: str) -> str:
    """A directory per training, named by task, dataset, tag, seed and a per-run counter, so two
    runs of the same command record the same name (results never carry a random name). A
    directory left by an earlier run is replaced, and the encoder forgets what it loaded from it."""
    from tagrank.hybrid.finetune import forget_cached_model

    key = (ctx.task, ctx.dataset, tag, int(ctx.random_state))
    _TRAININGS[key] = _TRAININGS.get(key, 0) + 1
    name = f"{ctx.task}-{ctx.dataset}-{tag}-seed{ctx.random_state}-{_TRAININGS[key]}"
    base = Path(ctx.cache_dir) / "finetuned" if ctx.cache_dir is not None else Path(_session_dir())
    base.mkdir(parents=True, exist_ok=True)
    path = base / name
    if path.exists():
        shutil.rmtree(path)
    forget_cached_model(path)
    path.mkdir()
    return str(path)


@cache
def _session_dir() -> str:
    """One temporary folder per process for fine-tuned models when there is no cache dir."""
    return tempfile.mkdtemp(prefix="tagrank-ft-")


def recorded_dir(path: str | os.PathLike, ctx: MethodContext) -> str:
    """How a results file names a fine-tuned model folder: relative to the cache dir, never absolute."""
    p = Path(path)
    if ctx.cache_dir is not None:
        try:
            return p.resolve().relative_to(Path(ctx.cache_dir).resolve()).as_posix()
        except ValueError:
            pass
    return p.name


def _is_cuda(ctx: MethodContext) -> bool:
    from tagrank.baselines.vectors import resolve_device

    return resolve_device(ctx.device).type == "cuda"


def _split_params(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    scorer = {}
    if "batch_size_encode" in params:
        scorer["batch_size"] = params.pop("batch_size_encode")
    if "dtype" in params:
        scorer["dtype"] = params.pop("dtype")
    return params, scorer


def _tuner(ctx: MethodContext, tag: str, **params: Any):
    from tagrank.hybrid.finetune import BiEncoderFineTuner

    kwargs = {"random_state": ctx.random_state, "device": ctx.device, "show_progress": ctx.show_progress}
    kwargs.update(params)
    kwargs.setdefault("output_dir", _output_dir(ctx, tag))
    return BiEncoderFineTuner(**kwargs)


# ---------------------------------------------------------------------------- similarity
def check_similarity_applicable(ctx: MethodContext) -> None:
    """Raise :class:`MethodNotApplicable` unless ``ctx`` is an STS-B dataset with a real train split."""
    train, valid = ctx.data.get("train"), ctx.data.get("valid")
    if ctx.dataset not in FT_SIMILARITY_DATASETS:
        raise MethodNotApplicable(
            f"transformer_ft runs on {list(FT_SIMILARITY_DATASETS)} only (official train splits); "
            f"{ctx.dataset!r} has none worth fine-tuning on"
        )
    if train is None or len(train) < MIN_TRAIN_PAIRS:
        raise MethodNotApplicable(
            f"transformer_ft needs >= {MIN_TRAIN_PAIRS} train pairs; {ctx.dataset!r} has {0 if train is None else len(train)}"
        )
    if valid is None or len(valid) == 0:
        raise MethodNotApplicable(f"transformer_ft needs valid pairs for early stopping; {ctx.dataset!r} has none")


def similarity_factory(ctx: MethodContext, **params: Any):
    """Fine-tune (cosine-MSE by default) on ``ctx.data["train"]``, early-stop on ``["valid"]``; a fitted scorer."""
    check_similarity_applicable(ctx)
    params, scorer_params = _split_params({**SIMILARITY_DEFAULTS, **params})
    train, valid = ctx.data["train"], ctx.data["valid"]
    tuner = _tuner(ctx, str(params.get("loss")), **params).fit(
        train["left"].tolist(), train["right"].tolist(), train["score"].to_numpy(float),
        valid["left"].tolist(), valid["right"].tolist(), valid["score"].to_numpy(float),
    )
    scorer = finetuned_scorer(tuner, ctx, **scorer_params)
    return scorer.fit(list(ctx.data["corpus"]))


def has_recipe(est: Any) -> bool:
    """Whether ``est`` records the fine-tuning recipe it was trained with (a ``transformer_ft`` scorer):
    what cross-fitting retrains per fold."""
    return "ft.loss" in getattr(est, "training_params_", {})


def _recipe(full: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(fine-tuner parameters, scorer parameters) that trained ``full``, a ``transformer_ft`` scorer."""
    record = dict(getattr(full, "training_params_", {}))
    hyper = {k[3:]: v for k, v in record.items() if k.startswith("ft.")}
    if not has_recipe(full) or "base_model" not in record:
        raise TagrankInputError(f"cross-fitting needs a scorer trained by transformer_ft; {type(full).__name__} "
                                "records no fine-tuning recipe (ft.loss)")
    hyper["model"] = record["base_model"]
    scorer = {k: v for k, v in full.get_params().items() if k in ("batch_size", "dtype")}
    return hyper, scorer


def _fold_record(scorer: Any) -> dict[str, Any]:
    keys = ("fold", "held_out", "n_train_pairs", "steps", "best_step", "best_valid_metric", "train_s")
    return {k: scorer.training_params_[k] for k in keys if k in scorer.training_params_}


def similarity_cross_fitted(ctx: MethodContext, full: Any, n_folds: int = 5) -> Any:
    """A :class:`hybrid.crossfit.CrossFittedScorer` (by pair) over the similarity ``transformer_ft`` ``full``.

    The train pairs are split into ``n_folds`` folds (:func:`hybrid.crossfit.pair_folds`); for each
    fold, the recipe that trained ``full`` trains on the other folds' pairs and early-stops on the
    same valid pairs. Each train pair is then scored by the model that did not learn from it, every
    other pair by ``full``. The fold models' records are in ``fold_params_``.
    """
    from tagrank.hybrid.crossfit import CrossFittedScorer, pair_folds

    hyper, scorer_params = _recipe(full)
    train, valid = ctx.data["train"], ctx.data["valid"]
    left, right = train["left"].tolist(), train["right"].tolist()
    scores = train["score"].to_numpy(float)
    fold = pair_folds(left, right, n_folds)
    out, records = [], []
    for f in range(n_folds):
        rest = np.flatnonzero(fold != f)
        held = sorted({(left[i], right[i]) for i in np.flatnonzero(fold == f)})
        if not held:  # more folds than pairs: nothing for this fold's model to score
            continue
        tuner = _tuner(ctx, f"{hyper['loss']}-fold{f}", **hyper).fit(
            [left[i] for i in rest], [right[i] for i in rest], scores[rest],
            valid["left"].tolist(), valid["right"].tolist(), valid["score"].to_numpy(float),
        )
        scorer = finetuned_scorer(tuner, ctx, extra={"fold": f, "n_folds": n_folds, "held_out": len(held)},
                                  **scorer_params)
        texts = sorted({t for pair in held for t in pair})  # what this model scores: its held-out pairs
        out.append((scorer.fit(texts), held))
        records.append(_fold_record(scorer))
    crossed = CrossFittedScorer(full, out, by="pair")
    crossed.fold_params_ = records
    return crossed


# ---------------------------------------------------------------------------- search
def search_pairs(data: Any, split: str, positives_only: bool, keys: Collection[str] | None = None
                 ) -> tuple[list[str], list[str], list[float]]:
    """(query keys, product titles, labels) of the judged pairs of ``split``; duplicate judgments
    of one (key, item) are averaged; ``positives_only`` keeps relevance >= 2.5; ``keys``
    keeps those queries only."""
    part = data.parts[split]
    if keys is not None:
        part = part[part["key"].isin(set(keys))]
    g = part.groupby(["key", "item_id"], sort=True)["label"].mean().reset_index()
    if positives_only:
        g = g[g["label"] >= RELEVANT_LABEL]
    texts = g["item_id"].map(data.text_of)
    return g["key"].tolist(), texts.tolist(), g["label"].astype(float).tolist()


def _valid_ndcg(scorer: Any, data: Any) -> float:
    """Valid rerank NDCG@10, exactly as the protocol selects grid points."""
    from tagrank.eval.splits import VALID
    from tagrank.eval.tasks.search import PRIMARY, evaluate_run, rerank_queries, rerank_run

    keys, _ = rerank_queries(data.parts[VALID])
    if not keys:
        return float("nan")
    qrels = {key: data.qrels[key] for key in keys}  # only the valid queries (the run has no others)
    s = evaluate_run(rerank_run(scorer, data.pairs(VALID, keys)), qrels, (PRIMARY,))
    return float(s.metrics[PRIMARY])


def _train_search(ctx: MethodContext, data: Any, loss: str, params: dict[str, Any],
                  train_keys: Collection[str] | None = None, tag: str | None = None):
    from tagrank.eval.splits import TRAIN, VALID

    positives = loss == "mnrl"
    left, right, labels = search_pairs(data, TRAIN, positives, train_keys)
    vleft, vright, vlabels = search_pairs(data, VALID, positives)
    if len(left) < 2:
        raise MethodNotApplicable(f"transformer_ft: only {len(left)} train pairs for loss={loss!r} on {ctx.dataset!r}")
    kwargs = dict(params)
    if loss != "mnrl":  # graded: the labels' own scale
        kwargs.setdefault("score_range", (1.0, 3.0))
    tuner = _tuner(ctx, tag or loss, loss=loss, **kwargs)
    has_valid = len(vleft) > 0
    return tuner.fit(
        left, right, labels if loss != "mnrl" else None,
        vleft if has_valid else None, vright if has_valid else None,
        (vlabels if loss != "mnrl" else None) if has_valid else None,
    )


def search_factory(ctx: MethodContext, **params: Any):
    """Fine-tune on the train queries' judged pairs (see the module docstring); a scorer fitted on the catalogue."""
    data = ctx.data["search"]
    cuda = _is_cuda(ctx)
    params = {**SEARCH_DEFAULTS, **params}
    loss = params.pop("loss", "auto" if cuda else "mnrl")
    if "max_steps" not in params and not cuda:
        params["max_steps"] = CPU_SEARCH_MAX_STEPS
    params, scorer_params = _split_params(params)
    losses = ("mnrl", "cosine_mse") if loss == "auto" else (loss,)
    if any(name not in ("mnrl", "cosent", "cosine_mse") for name in losses):
        raise TagrankInputError(f"transformer_ft (search): loss must be 'auto', 'mnrl', 'cosent' or 'cosine_mse', got {loss!r}")
    candidates = []
    for name in losses:
        tuner = _train_search(ctx, data, name, params)
        scorer = finetuned_scorer(tuner, ctx, **scorer_params)
        candidates.append((name, tuner, scorer))
    extra: dict[str, Any] = {"loss_selection": loss}
    if len(candidates) > 1:
        # Selection needs score_pairs only; the winner alone is fitted on the catalogue below.
        scores = {}
        for name, _, scorer in candidates:
            scorer.fit(data.item_texts[:1])  # score_pairs needs no catalogue
            scores[name] = _valid_ndcg(scorer, data)
        best = max(candidates, key=lambda c: (scores[c[0]], c[0] == "mnrl"))
        extra.update({f"valid_ndcg@10.{name}": value for name, value in scores.items()})
        extra["train_s_total"] = round(sum(t.train_seconds_ for _, t, _ in candidates), 3)
        name, tuner, _ = best
        scorer = finetuned_scorer(tuner, ctx, extra=extra, **scorer_params)
    else:
        name, tuner, scorer = candidates[0]
        scorer.training_params_.update(extra)
    return scorer.fit(data.item_texts, data.item_ids)


def search_cross_fitted(ctx: MethodContext, full: Any, n_folds: int = 2) -> Any:
    """A :class:`hybrid.crossfit.CrossFittedScorer` over the search ``transformer_ft`` ``full``.

    The train queries are split into ``n_folds`` folds by key (:func:`hybrid.crossfit.query_folds`);
    for each fold, the recipe that trained ``full`` (its recorded loss and hyper-parameters: on CPU
    the same step cap, so a fold model sees about as many pairs as ``full``) trains on the other
    folds, early-stops on the same valid pairs, and is fitted on the catalogue to score that fold.
    Every other query goes to ``full``. The fold models' records are in ``fold_params_``.

    Within one dataset's run the fold models are trained once: ``hybrid`` and ``hybrid_no_prior``
    cross-fit the same ``full`` on the same data with the same seed, and training is deterministic,
    so the second call returns the first one's scorer (kept in ``ctx.data``, dropped with it).
    """
    from tagrank.eval.splits import TRAIN
    from tagrank.hybrid.crossfit import CrossFittedScorer, query_folds

    data = ctx.data["search"]
    memo = ctx.data.setdefault("_search_cross_fitted", {})
    key = (id(full), id(data), int(n_folds), int(ctx.random_state))
    if key in memo and memo[key][0] is full:
        return memo[key][1]
    hyper, scorer_params = _recipe(full)
    loss = hyper.pop("loss")
    folds = query_folds(data.parts[TRAIN]["key"].tolist(), n_folds)
    out, records = [], []
    for i, held in enumerate(folds):
        rest = [key for j, fold in enumerate(folds) if j != i for key in fold]
        tuner = _train_search(ctx, data, loss, hyper, train_keys=rest, tag=f"{loss}-fold{i}")
        scorer = finetuned_scorer(tuner, ctx, extra={"fold": i, "n_folds": n_folds, "held_out": len(held)},
                                  **scorer_params)
        out.append((scorer.fit(data.item_texts, data.item_ids), held))
        records.append(_fold_record(scorer))
    crossed = CrossFittedScorer(full, out)
    crossed.fold_params_ = records
    memo[key] = (full, crossed)  # full kept alive with its entry, so its id is not reused
    return crossed


# ---------------------------------------------------------------------------- taxonomy
def taxonomy_factory(ctx: MethodContext, **params: Any):
    """An unfitted :class:`hybrid.finetune_categoriser.FineTunedCategoriser` (the taxonomy protocol calls
    ``fit(train texts, train paths, valid texts, valid paths)``); ``params`` override ``TAXONOMY_DEFAULTS``."""
    from tagrank.hybrid.finetune_categoriser import FineTunedCategoriser

    clf = {"device": ctx.device, "show_progress": ctx.show_progress, **TAXONOMY_DEFAULTS, **params}
    return FineTunedCategoriser(classifier_params=clf, levels=ctx.data.get("levels"), random_state=ctx.random_state)


FACTORIES: dict[str, Any] = {"similarity": similarity_factory, "search": search_factory, "taxonomy": taxonomy_factory}

register(MethodSpec(
    "transformer_ft", "task", FACTORIES, ("similarity", "search", "taxonomy"),
    description="the default transformer fine-tuned on the task's train split (cosine-MSE / MNRL; "
    "a fine-tuned classification head for taxonomy), early-stopped on valid",
))
