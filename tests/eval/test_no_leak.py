"""No test text in any unsupervised corpus: fitted-on-text state sees train (and the catalogue) only.

Each protocol is run on a small dataset whose valid and test texts carry tokens found nowhere else;
every text a scorer is fitted on (its corpus and word2vec's extra training text) is recorded, and
none of those tokens may be in it, nor in the fitted vocabularies.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tagrank.eval.dataset_io import Dataset
from tagrank.eval.methods import MethodContext, methods_for

HELD_OUT = "zqheld"  # the prefix of every valid/test-only token


def _recorder(monkeypatch, module):
    seen: list[tuple[list[str], list[str], object]] = []
    real = module.fit_text

    def fit_text(est, texts, ids, ctx):
        extra = ctx.training_texts() if ctx.training_texts is not None else []
        out = real(est, texts, ids, ctx)
        seen.append((list(texts), list(extra), est))
        return out

    monkeypatch.setattr(module, "fit_text", fit_text)
    return seen


def _no_held_out(seen) -> None:
    assert seen, "no scorer was fitted"
    for texts, extra, est in seen:
        assert not [t for t in texts if HELD_OUT in t], type(est).__name__
        assert not [t for t in extra if HELD_OUT in t], type(est).__name__
        for attr in ("vocabulary_", "vocab_", "idf_"):
            vocab = getattr(est, attr, None)
            if isinstance(vocab, dict):
                assert not [w for w in vocab if HELD_OUT in str(w)], (type(est).__name__, attr)
        model = getattr(est, "model_", None)
        keys = getattr(getattr(model, "wv", None), "key_to_index", None)
        if keys is not None:
            assert not [w for w in keys if HELD_OUT in w]


def _ctx(task: str, name: str) -> MethodContext:
    background = ["a red shoe and a blue coat", "green hats are warm", "the black bag is small"] * 5
    return MethodContext(task=task, dataset=name, cache_dir=None, show_progress=False,
                         training_texts=lambda: list(background))


def test_similarity_corpus_is_the_train_pairs(monkeypatch):
    from tagrank.eval.tasks import similarity

    rng = np.random.default_rng(0)
    words = ["red", "blue", "shoe", "coat", "hat", "bag", "warm", "small", "green", "black"]
    rows = []
    for i in range(90):
        split = "train" if i < 60 else "valid" if i < 75 else "test"
        tail = f" {HELD_OUT}{i}" if split != "train" else ""
        rows.append({"left": " ".join(rng.choice(words, 3)) + tail, "right": " ".join(rng.choice(words, 3)),
                     "score": float(rng.random()), "split": split})
    ds = Dataset(name="toy_pairs", source="test", licence="-", language="en", pairs=pd.DataFrame(rows))
    seen = _recorder(monkeypatch, similarity)
    similarity.run(ds, methods_for("similarity", ["jaccard", "tfidf", "word2vec"]), _ctx("similarity", "toy_pairs"))
    _no_held_out(seen)


def test_search_corpus_is_the_catalogue_and_train_queries(monkeypatch):
    from tagrank.eval.tasks import search

    rng = np.random.default_rng(1)
    words = ["red", "blue", "shoe", "coat", "hat", "bag", "warm", "small", "green", "black"]
    items = pd.DataFrame({"item_id": [f"p{i}" for i in range(40)],
                          "text": [" ".join(rng.choice(words, 4)) for _ in range(40)]})
    rows = []
    for q in range(30):
        split = "train" if q < 18 else "valid" if q < 24 else "test"
        query = " ".join(rng.choice(words, 2)) + (f" {HELD_OUT}{q}" if split != "train" else f" q{q}")
        for i in rng.choice(40, 6, replace=False):
            rows.append({"query": query, "item_id": f"p{i}", "label": float(rng.integers(1, 4)), "split": split})
    ds = Dataset(name="toy_search", source="test", licence="-", language="en", items=items,
                 judgments=pd.DataFrame(rows))
    seen = _recorder(monkeypatch, search)
    search.run(ds, methods_for("search", ["tfidf", "bm25", "word2vec"]), _ctx("search", "toy_search"))
    _no_held_out(seen)
    # the train queries are in word2vec's text (what a shop has before test time)
    assert any("q0" in t for _, extra, _ in seen for t in extra)


def test_bench_corpus_leaves_out_the_evaluated_dataset():
    from tagrank.eval.corpora import language_corpus

    _, used = language_corpus("en", None, True)
    assert "sample" in used
    _, used = language_corpus("en", None, True, exclude=("sample",))
    assert "sample" not in used and used == ["gensim:lee_background.cor"]


def test_taxonomy_scorers_fit_on_train_texts(monkeypatch):
    from tagrank.eval.tasks import taxonomy

    seen: list[list[str]] = []
    real = taxonomy._categoriser

    def categoriser(spec, est, levels, ctx, train_texts):
        seen.append(list(train_texts))
        return real(spec, est, levels, ctx, train_texts)

    monkeypatch.setattr(taxonomy, "_categoriser", categoriser)
    from tagrank.eval.datasets import load_dataset

    ds = load_dataset("sample")
    data = taxonomy.TaxonomyData(ds)
    held = set(data.texts("valid")) | set(data.texts("test"))
    held -= set(data.texts("train"))
    taxonomy.run(ds, methods_for("taxonomy", ["tfidf"]), _ctx("taxonomy", "sample"))
    assert seen and all(not (set(texts) & held) for texts in seen)
