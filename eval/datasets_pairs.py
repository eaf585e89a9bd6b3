"""Loaders of the similarity datasets: word lists (WordSim-353, SimLex-999) and sentence pairs
(STS-B en/zh, COS960, LCQMC).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from tagrank.baselines.validation import TagrankInputError
from tagrank.eval.dataset_io import (
    STSB_SPLITS,
    Dataset,
    _dataset,
    _fail,
    _gensim_test_file,
    _lines,
    _pair_row,
    _pairs_frame,
    _require,
    _split_fields,
)

# ----------------------------------------------------------------------------- word lists


def _word_pairs(path: Path) -> tuple[pd.DataFrame, dict[str, int]]:
    """WordSim-353 / SimLex-999 style file: '#' comments, word1 <tab> word2 <tab> score.

    Also reads the original SimLex-999.txt layout (header ``word1 word2 POS SimLex999 ...``):
    the score is then the ``SimLex999`` column.
    """
    rows: list[tuple[str, str, float, str | None]] = []
    score_at, score_name, header_seen = 2, "score", False
    for number, line in _lines(path):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [f.strip() for f in _split_fields(line)]
        if not header_seen:
            header_seen = True
            lowered = [f.lower() for f in fields]
            if "simlex999" in lowered or lowered[0] in ("word1", "word 1", "w1"):
                if "simlex999" in lowered:
                    score_at, score_name = lowered.index("simlex999"), fields[lowered.index("simlex999")]
                continue
        if len(fields) <= score_at:
            raise _fail(path, f"line {number}", score_name,
                        f"expected at least {score_at + 1} fields, got {len(fields)}", line)
        left, right, score = _pair_row(path, number, fields[0], fields[1], fields[score_at],
                                       ("word1", "word2", score_name))
        rows.append((left, right, score, None))
    frame = _pairs_frame(rows, path)
    return frame, {"rows_read": len(frame)}


def load_wordsim353(data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """WordSim-353 word pairs (similarity/wordsim353.tsv, gensim's copy), human score 0-10.

    Source: Finkelstein et al. (2002), WordSimilarity-353 Test Collection; licence:
    no explicit licence, research use, redistributed in gensim's test data.
    """
    path = _require("wordsim353", data_dir, "similarity/wordsim353.tsv")
    pairs, counts = _word_pairs(path)
    return _dataset("wordsim353", counts, pairs=pairs)


def load_simlex999(data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """SimLex-999 word pairs (similarity/simlex999.txt), similarity 0-10.

    Source: Hill, Reichart and Korhonen (2015), SimLex-999; licence: no explicit
    licence, research use, redistributed in gensim's test data.
    """
    path = _require("simlex999", data_dir, "similarity/simlex999.txt")
    pairs, counts = _word_pairs(path)
    return _dataset("simlex999", counts, pairs=pairs)


def load_gensim_wordsim353() -> Dataset:
    """WordSim-353 read from the installed gensim package (no data dir needed); same data as wordsim353."""
    pairs, counts = _word_pairs(_gensim_test_file("wordsim353.tsv", "gensim_wordsim353"))
    return _dataset("gensim_wordsim353", counts, pairs=pairs)


def load_gensim_simlex999() -> Dataset:
    """SimLex-999 read from the installed gensim package (no data dir needed); same data as simlex999."""
    pairs, counts = _word_pairs(_gensim_test_file("simlex999.txt", "gensim_simlex999"))
    return _dataset("gensim_simlex999", counts, pairs=pairs)


# ----------------------------------------------------------------------------- sentence pairs


def load_stsb_en(data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """English STS Benchmark (similarity/stsbenchmark.tsv.gz), score 0-5, splits train/dev/test.

    Source: Cer et al. (2017), STS Benchmark (SemEval 2012-2017 STS data);
    licence: per original source, see the STS Benchmark wiki. The file is read
    without quote handling (sentences contain '"'); ``dev`` becomes ``valid``.
    Fields after the 8 named ones (present in some copies) are ignored and counted.
    """
    path = _require("stsb_en", data_dir, "similarity/stsbenchmark.tsv.gz")
    lines = _lines(path)
    header_line = next(lines, None)
    if header_line is None:
        raise TagrankInputError(f"{path}: the file is empty (expected a header line)")
    header = header_line[1].split("\t")
    needed = ("split", "score", "sentence1", "sentence2")
    missing = [c for c in needed if c not in header]
    if missing:
        raise TagrankInputError(f"{path}: missing column(s) {missing} in the header (line 1); it has {header}")
    at = {c: header.index(c) for c in needed}
    rows: list[tuple[str, str, float, str | None]] = []
    extra = 0
    for number, line in lines:
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < len(header):
            raise _fail(path, f"line {number}", header[len(fields)] if fields else header[0],
                        f"expected {len(header)} tab-separated fields, got {len(fields)}", line)
        extra += len(fields) > len(header)
        split = fields[at["split"]].strip()
        if split not in STSB_SPLITS:
            raise _fail(path, f"line {number}", "split", f"unknown split (expected one of {sorted(STSB_SPLITS)})", split)
        left, right, score = _pair_row(path, number, fields[at["sentence1"]], fields[at["sentence2"]],
                                       fields[at["score"]], ("sentence1", "sentence2", "score"))
        rows.append((left, right, score, STSB_SPLITS[split]))
    pairs = _pairs_frame(rows, path)
    counts = {"rows_read": len(pairs)}
    if extra:
        counts["rows_with_extra_fields_ignored"] = extra
    return _dataset("stsb_en", counts, pairs=pairs)


def _tab_pairs(path: Path, split: str | None, names: tuple[str, str, str],
               allowed: tuple[float, ...] = ()) -> list[tuple[str, str, float, str | None]]:
    """Headerless 'left <tab> right <tab> score' lines; exactly three fields, score in ``allowed`` if given."""
    rows: list[tuple[str, str, float, str | None]] = []
    for number, line in _lines(path):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise _fail(path, f"line {number}", names[min(len(fields), 2)],
                        f"expected 3 tab-separated fields, got {len(fields)}", line)
        left, right, score = _pair_row(path, number, fields[0], fields[1], fields[2].strip(), names)
        if allowed and score not in allowed:
            raise _fail(path, f"line {number}", names[2], f"expected one of {list(allowed)}", fields[2])
        rows.append((left, right, score, split))
    return rows


def load_stsb_zh(data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """Chinese STS-B (similarity/stsb_zh/STS-B.{train,valid,test}.data), integer score 0-5.

    Source: CNSD, the Chinese translation of STS-B (github.com/pluto-junzeng/CNSD);
    licence: Apache-2.0. Official splits kept as train / valid / test.
    """
    rows: list[tuple[str, str, float, str | None]] = []
    counts: dict[str, int] = {}
    for split in ("train", "valid", "test"):
        path = _require("stsb_zh", data_dir, f"similarity/stsb_zh/STS-B.{split}.data")
        part = _tab_pairs(path, split, ("sentence1", "sentence2", "score"))
        counts[f"{split}_rows_read"] = len(part)
        rows += part
    pairs = _pairs_frame(rows, path)
    counts["rows_read"] = len(pairs)
    return _dataset("stsb_zh", counts, pairs=pairs)


def load_cos960(data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """COS960 Chinese word pairs (similarity/cos960_all.txt: w1 w2 mean score_1..score_15), score = mean 0-4.

    Source: Huang et al. (2019), COS960, THUNLP (github.com/thunlp/COS960);
    licence: MIT (see cos960_LICENSE).
    """
    path = _require("cos960", data_dir, "similarity/cos960_all.txt")
    rows: list[tuple[str, str, float, str | None]] = []
    for number, line in _lines(path):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) < 3:
            raise _fail(path, f"line {number}", "mean", f"expected at least 3 space-separated fields, got {len(fields)}", line)
        left, right, score = _pair_row(path, number, fields[0], fields[1], fields[2], ("w1", "w2", "mean"))
        rows.append((left, right, score, None))
    pairs = _pairs_frame(rows, path)
    return _dataset("cos960", {"rows_read": len(pairs)}, pairs=pairs)


def load_lcqmc(data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """LCQMC test split (similarity/lcqmc_test.txt: s1 <tab> s2 <tab> label 0/1), score = label.

    Source: Liu et al. (COLING 2018), LCQMC, a Large-scale Chinese Question
    Matching Corpus; licence: research use. Only the test file is shipped, so split is None.
    """
    path = _require("lcqmc", data_dir, "similarity/lcqmc_test.txt")
    pairs = _pairs_frame(_tab_pairs(path, None, ("s1", "s2", "label"), allowed=(0.0, 1.0)), path)
    return _dataset("lcqmc", {"rows_read": len(pairs)}, pairs=pairs)
