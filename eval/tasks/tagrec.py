"""Task ``tagrec``: recommend tags for a (user, item) pair (``movielens`` tags; embedded ``sample``).

Events = ``dataset.tag_events`` (user, item, tag lower-cased and stripped,
timestamp). Per user with >= 5 events, ordered by (time, item id, tag), the
last ``max(1, floor(0.2 n))`` events are test; the rest (and every event of
users with fewer) is train. A test unit is a (user, item) pair with test
events; its relevant tags are the tags that user gave that item in test. Each
method ranks the *train* tag vocabulary for every unit (test tags outside it
cannot be retrieved and still count in recall; their share is reported).
Tags the user already gave that item in train are never recommended (they
cannot be relevant: a user gives an item a tag once).

Methods (by kind):

* ``interaction`` (``popularity``): fitted on (user_id, item_id = tag) events;
  a unit gets the user's ranking (``exclude_seen=False``: users re-use tags).
* ``text`` (``tfidf``, ``transformer``): fitted on the tag vocabulary as the
  corpus (ids = tags); a unit gets ``top_k(item text)``, item text = title +
  genres (``dataset.items.text``).
* ``task`` (``user_history``, ``item_cooccurrence``, ``hybrid``): ``fit(train
  events, items)`` then ``recommend(users, items, k, exclude=...)``.

Parameters are chosen on an inner split of train by the same rule (the last
20% of each user's train events = valid). Metrics ``recall@10`` (primary) and
``ndcg@10`` per unit, 95% bootstrap intervals over test units; ``hybrid`` vs
the best single method: paired t-test over the same units.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from tagrank.baselines.validation import TagrankInputError, check_columns
from tagrank.eval import metrics
from tagrank.eval.datasets import Dataset
from tagrank.eval.methods import MethodContext, MethodSpec
from tagrank.eval.results import build_results
from tagrank.eval.splits import TEST, TRAIN, temporal_user_split
from tagrank.eval.tasks.common import (
    Scored,
    Timer,
    ablation_table,
    device_of,
    hybrid_vs_best,
    method_result,
    params_of,
    select_params,
    timed,
)
from tagrank.eval.tasks.search import paired_t_on, summarize

K = 10
PRIMARY = "recall@10"
#: the paired t-test over the same units of the primary metric (per-unit recall@10)
paired_t = paired_t_on(PRIMARY)
RANK_METRICS = ("recall@10", "ndcg@10")
MIN_EVENTS = 5


def prepare_events(dataset: Dataset) -> pd.DataFrame:
    """The tag events with tags lower-cased and stripped; empty tags dropped."""
    if dataset.tag_events is None:
        raise TagrankInputError(f"dataset {dataset.name!r} has no tag_events for the tagrec task")
    ev = dataset.tag_events
    check_columns(ev, ["user_id", "item_id", "tag", "timestamp"], "tag_events")
    ev = ev.assign(
        user_id=ev["user_id"].astype(str), item_id=ev["item_id"].astype(str),
        tag=ev["tag"].astype(str).str.strip().str.lower(),
    )
    ev = ev[ev["tag"] != ""]
    return ev[["user_id", "item_id", "tag", "timestamp"]].reset_index(drop=True)


def split_events(events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) by the spec's per-user rule, ordered by (time, item id, tag)."""
    keyed = events.assign(_order=events["item_id"].astype(str) + "\x00" + events["tag"].astype(str))
    split = temporal_user_split(keyed, item_col="_order", min_positives=MIN_EVENTS)
    return events[split == TRAIN].reset_index(drop=True), events[split == TEST].reset_index(drop=True)


class Units:
    """The (user, item) units of a held-out part: relevant tags and the tags to exclude."""

    def __init__(self, held_out: pd.DataFrame, known: pd.DataFrame):
        groups = held_out.groupby(["user_id", "item_id"], sort=True)["tag"].agg(lambda s: set(s))
        self.users = [u for u, _ in groups.index]
        self.items = [i for _, i in groups.index]
        self.keys = [f"{u}\t{i}" for u, i in groups.index]
        self.relevant = groups.tolist()
        seen = known.groupby(["user_id", "item_id"])["tag"].agg(lambda s: set(s))
        self.exclude = [seen.get((u, i), set()) for u, i in groups.index]

    def __len__(self) -> int:
        return len(self.keys)

    def qrels(self) -> dict[str, dict[str, float]]:
        return {k: dict.fromkeys(sorted(r), 1.0) for k, r in zip(self.keys, self.relevant, strict=True)}


def _filtered(lists: Any, exclude: list[set[str]], k: int) -> list[list[str]]:
    """Top k of each ranked list without None and without the unit's excluded tags."""
    out = []
    for row, ex in zip(lists, exclude, strict=True):
        kept = [t for t in row if t is not None and t not in ex]
        out.append(kept[:k])
    return out


def evaluate(lists: list[list[str]], units: Units, names: tuple[str, ...] = RANK_METRICS) -> Scored:
    run = {key: list(dict.fromkeys(row)) for key, row in zip(units.keys, lists, strict=True)}
    per_unit = metrics.per_query_ranking_metrics(run, units.qrels(), list(names), relevance_threshold=1.0)
    return summarize(per_unit)


class TagRecData:
    """Split events, units and item texts, computed once per dataset."""

    def __init__(self, dataset: Dataset):
        self.events = prepare_events(dataset)
        if self.events.empty:
            raise TagrankInputError(f"dataset {dataset.name!r} has no tag events")
        self.train, self.test = split_events(self.events)
        self.inner_train, self.inner_valid = split_events(self.train)
        if self.test.empty:
            raise TagrankInputError(f"dataset {dataset.name!r}: no user has >= {MIN_EVENTS} tag events")
        items = dataset.items
        self.item_text: dict[str, str] = {}
        if items is not None and "text" in items.columns:
            self.item_text = dict(zip(items["item_id"].astype(str), items["text"].astype(str), strict=True))
        self.items = (
            pd.DataFrame({"item_id": list(self.item_text), "text": list(self.item_text.values())})
            if self.item_text else None
        )
        self.test_units = Units(self.test, self.train)
        self.valid_units = Units(self.inner_valid, self.inner_train)


def rank_units(spec: MethodSpec, est: Any, units: Units, data: TagRecData, k: int = K) -> list[list[str]]:
    """Each unit's top-k tags from a fitted method (see the module docstring for each kind)."""
    depth = k + max((len(e) for e in units.exclude), default=0)
    if spec.kind == "interaction":
        users = sorted(set(units.users))
        known = [u for u in users if u in getattr(est, "user_index_", {})]
        lists, _ = est.recommend(known, depth, exclude_seen=False) if known else (np.empty((0, 0)), None)
        by_user = {u: list(row) for u, row in zip(known, lists, strict=True)}
        return _filtered([by_user.get(u, []) for u in units.users], units.exclude, k)
    if spec.kind == "text":
        texts = [data.item_text.get(i) for i in units.items]
        rows = [r for r, t in enumerate(texts) if t is not None]
        lists: list[list[Any]] = [[] for _ in units.keys]
        if rows:
            ids, _ = est.top_k([texts[r] for r in rows], depth)
            for r, row in zip(rows, ids, strict=True):
                lists[r] = list(row)
        return _filtered(lists, units.exclude, k)
    lists, _ = est.recommend(units.users, units.items, k, exclude=units.exclude)
    return _filtered(lists, units.exclude, k)


def run(dataset: Dataset, specs: list[MethodSpec], base_ctx: MethodContext) -> list[dict[str, Any]]:
    """Run every method on one tagrec dataset; returns one results document."""
    data = TagRecData(dataset)
    ctx = base_ctx.for_dataset(
        "tagrec", dataset,
        data={"tagrec": data, "train": data.train, "inner_train": data.inner_train,
              "inner_valid": data.inner_valid, "items": data.items, "text_methods": []},
    )

    def fit(spec: MethodSpec, params: dict[str, Any], events: pd.DataFrame, timer: Timer | None = None):
        with timed(timer or Timer()):
            est = spec.build(ctx, **params)
            if spec.kind == "interaction":
                est.fit(events.rename(columns={"item_id": "movie_id", "tag": "item_id"})[
                    ["user_id", "item_id", "timestamp"]])
            elif spec.kind == "text":
                vocab = sorted(set(events["tag"]))
                est.fit(vocab, ids=vocab)
            elif spec.kind == "task":
                est.fit(events, data.items)
            else:
                raise TagrankInputError(f"method {spec.name!r} of kind {spec.kind!r} has no tagrec recipe")
        return est

    rows, scored = {}, {}
    ablation: dict[str, Any] = {}
    for spec in tqdm(specs, desc=f"tagrec/{dataset.name}", disable=not base_ctx.show_progress):

        def valid_score(params: dict[str, Any], spec=spec) -> float:
            est = fit(spec, params, data.inner_train)
            return evaluate(rank_units(spec, est, data.valid_units, data), data.valid_units, (PRIMARY,)).metrics[PRIMARY]

        chosen, grid_scores = select_params(spec, ctx, valid_score)
        fit_t, score_t = Timer(), Timer()
        est = fit(spec, chosen, data.train, fit_t)
        ctx.fitted[spec.name] = est
        if spec.kind == "text":
            ctx.data["text_methods"].append(spec.name)
        with timed(score_t):
            lists = rank_units(spec, est, data.test_units, data)
        s = evaluate(lists, data.test_units)
        if getattr(est, "ablation_variants", None):  # the same candidates ranked by each drop-one ranker
            units = data.test_units
            variants = est.recommend_ablation(units.users, units.items, K, exclude=units.exclude)
            runs = {v: evaluate(_filtered(list(map(list, tags)), units.exclude, K), units)
                    for v, (tags, _) in variants.items() if v is not None}
            ablation = ablation_table(s, runs, PRIMARY, paired_t, ("ndcg@10",))
        if grid_scores:
            s.extra["valid_grid"] = grid_scores
        scored[spec.name] = s
        rows[spec.name] = method_result(s, fit_t.seconds, score_t.seconds, device_of(est, ctx), params_of(est, chosen))

    vocab = set(data.train["tag"])
    test_tags = [t for r in data.test_units.relevant for t in r]
    n_users = data.events.groupby("user_id").size()
    split = {
        "unit": "(user, item)", "train": int(data.train.groupby(["user_id", "item_id"]).ngroups),
        "valid": len(data.valid_units), "test": len(data.test_units),
        "excluded": int((n_users < MIN_EVENTS).sum()),
        "events_train": len(data.train), "events_test": len(data.test),
        "test_users": len(set(data.test_units.users)),
        "rule": "per-user temporal by (time, item id, tag): last max(1, floor(0.2 n)) events of users with >= 5",
    }
    extra = {
        "vocabulary_size": len(vocab),
        "test_relevant_tags_outside_vocabulary": float(np.mean([t not in vocab for t in test_tags])) if test_tags else 0.0,
    }
    if ablation:
        extra["ablation"] = ablation
    comparison = hybrid_vs_best(scored, PRIMARY, paired_t)
    return [build_results("tagrec", dataset.name, None, PRIMARY, split, rows, comparison, extra)]
