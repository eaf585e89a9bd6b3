"""Training text for word2vec: the documented corpus of the spec, per language.

English: gensim's Lee background corpus plus the texts of the English datasets
available (STS-B sentences, Home Depot titles and queries, MovieLens titles,
Online Retail descriptions, fashion product names). Chinese: the texts of STS-B
(zh) and LCQMC, segmented with jieba by the scorer. With no data directory, the
embedded default (Lee + the synthetic catalogue) is used. The word lists
themselves are never training text.

No held-out text: the dataset being evaluated is left out of its own corpus
(``exclude``); its task adds back what a deployment has before test time --
its train split's texts and the catalogue's item texts -- never a valid or test
query, pair or product (``tests/eval/test_no_leak.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

import gensim

from tagrank.eval.datasets import Dataset, load_dataset

# Word lists are left out: a one-word "sentence" gives word2vec no context to learn from,
# it would only put the evaluated words into the vocabulary with untrained vectors.
EN_DATASETS = ("stsb_en", "homedepot", "movielens", "online_retail", "fashion")
ZH_DATASETS = ("stsb_zh", "lcqmc")
EMBEDDED_DATASETS = ("sample",)


def lee_corpus() -> list[str]:
    """gensim's Lee background corpus (300 news paragraphs), shipped inside the gensim wheel."""
    path = Path(os.path.dirname(gensim.__file__)) / "test" / "test_data" / "lee_background.cor"
    return [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]


def dataset_texts(ds: Dataset) -> list[str]:
    """Every text a dataset carries (pairs, items, queries, labelled products)."""
    texts: list[str] = []
    if ds.pairs is not None:
        texts += ds.pairs["left"].tolist() + ds.pairs["right"].tolist()
    if ds.items is not None:
        texts += ds.items["text"].tolist()
    if ds.judgments is not None:
        texts += ds.judgments["query"].drop_duplicates().tolist()
    if ds.labels is not None:
        texts += ds.labels["text"].tolist()
    return texts


def language_corpus(language: str, data_dir: str | Path | None, embedded: bool,
                    exclude: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """(texts, the dataset names they came from) for training word2vec in ``language``, without the
    datasets in ``exclude`` (the one being evaluated: its task adds its own train texts)."""
    names = EMBEDDED_DATASETS if embedded else (EN_DATASETS if language == "en" else ZH_DATASETS)
    names = tuple(n for n in names if n not in exclude)
    texts: list[str] = lee_corpus() if language == "en" else []
    used = ["gensim:lee_background.cor"] if language == "en" else []
    for name in names:
        try:
            ds = load_dataset(name, data_dir)
        except FileNotFoundError:
            continue
        except ValueError as exc:  # a missing optional dataset is skipped, anything else is real
            if "not found" not in str(exc).lower():
                raise
            continue
        if ds.language != language:
            continue
        texts += dataset_texts(ds)
        used.append(name)
    return list(dict.fromkeys(t for t in texts if isinstance(t, str) and t.strip())), used
