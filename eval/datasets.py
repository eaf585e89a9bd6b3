"""Dataset loaders: read the public benchmark datasets into one uniform ``Dataset`` record.

Every loader validates what it reads: a missing file raises ``DatasetNotFoundError``
naming the expected path and the public source; a malformed file raises
``TagrankInputError`` naming the file, the row (``line N`` = 1-based line of the
file, ``data row N`` = 0-based row after the header) and the column. Rows that a
loader drops on purpose (e.g. Online Retail lines without a customer) are counted
in ``Dataset.counts`` under the reason; nothing is dropped silently. All ids are
``str``; timestamps are int64 unix seconds. Loaders never modify the files.

The real data lives outside the repository (see ``resolve_data_dir``); the
``EMBEDDED`` datasets ship with the library (the synthetic ``sample`` catalogue)
or with gensim (its copies of WordSim-353 and SimLex-999).

Layout: :mod:`eval.dataset_io` (the record, sources, data folder, checked readers),
:mod:`eval.datasets_pairs` (similarity), :mod:`eval.datasets_retail` (Home Depot,
MovieLens, Online Retail, Fashion), :mod:`eval.datasets_sample`; this module is the
registry (name -> loader) and re-exports every loader.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from tagrank.baselines.validation import TagrankInputError
from tagrank.eval.dataset_io import (
    _SPECS,
    EMBEDDED,
    FRAMES,
    Dataset,
    DatasetNotFoundError,
    _Spec,
    resolve_data_dir,
)
from tagrank.eval.datasets_pairs import (
    load_cos960,
    load_gensim_simlex999,
    load_gensim_wordsim353,
    load_lcqmc,
    load_simlex999,
    load_stsb_en,
    load_stsb_zh,
    load_wordsim353,
)
from tagrank.eval.datasets_retail import load_fashion, load_homedepot, load_movielens, load_online_retail
from tagrank.eval.datasets_sample import load_sample

__all__ = [
    "EMBEDDED",
    "Dataset",
    "DatasetNotFoundError",
    "dataset_summary",
    "list_datasets",
    "load_cos960",
    "load_dataset",
    "load_fashion",
    "load_gensim_simlex999",
    "load_gensim_wordsim353",
    "load_homedepot",
    "load_lcqmc",
    "load_movielens",
    "load_online_retail",
    "load_sample",
    "load_simlex999",
    "load_stsb_en",
    "load_stsb_zh",
    "load_wordsim353",
    "resolve_data_dir",
]

# ----------------------------------------------------------------------------- registry

#: name -> loader (sources, licences and files: ``dataset_io._SPECS``, same keys and order)
_LOADERS: dict[str, Callable[..., Dataset]] = {
    "sample": load_sample,
    "homedepot": load_homedepot,
    "movielens": load_movielens,
    "online_retail": load_online_retail,
    "fashion": load_fashion,
    "wordsim353": load_wordsim353,
    "simlex999": load_simlex999,
    "gensim_wordsim353": load_gensim_wordsim353,
    "gensim_simlex999": load_gensim_simlex999,
    "stsb_en": load_stsb_en,
    "stsb_zh": load_stsb_zh,
    "cos960": load_cos960,
    "lcqmc": load_lcqmc,
}
assert list(_LOADERS) == list(_SPECS)



def list_datasets() -> list[str]:
    """Names accepted by ``load_dataset`` (embedded ones first)."""
    return list(_SPECS)


def _spec(name: str) -> tuple[str, _Spec]:
    """Registry entry for a name (case/space-insensitive); unknown names list the known ones."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in _SPECS:
        raise TagrankInputError(f"unknown dataset {name!r}; known datasets: {', '.join(_SPECS)}")
    return key, _SPECS[key]


def load_dataset(name: str, data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """Load a dataset by name; embedded datasets ignore ``data_dir``."""
    key, spec = _spec(name)
    return _LOADERS[key]() if spec.embedded else _LOADERS[key](data_dir)


def _display_path(name: str, spec: _Spec, root: Path) -> str:
    """Where a dataset is read from, for the summary table."""
    if name == "sample":
        return "tagrank.data/sample (embedded)"
    if spec.embedded:
        found = importlib.util.find_spec("gensim")
        base = (found.submodule_search_locations or [""])[0] if found is not None else "gensim (not installed)"
        return str(Path(base) / "test" / "test_data")
    paths = [root / f for f in spec.files]
    return str(paths[0] if len(paths) == 1 else Path(os.path.commonpath([str(p) for p in paths])))


def dataset_summary(data_dir: str | os.PathLike[str] | None = None, *, count_rows: bool = True) -> pd.DataFrame:
    """One row per dataset: name, language, found, path, row counts per frame (loads each found dataset).

    A dataset that is found but fails to load gets its message in ``error``;
    with ``count_rows=False`` only file presence is checked (fast).
    """
    root = resolve_data_dir(data_dir)
    rows = []
    for name, spec in _SPECS.items():
        found = all((root / f).is_file() for f in spec.files) if not spec.embedded else True
        row: dict[str, Any] = {"name": name, "language": spec.language, "found": found,
                               "path": _display_path(name, spec, root)}
        row.update({frame: pd.NA for frame in FRAMES})
        row["error"] = ""
        if found and count_rows:
            try:
                loaded = load_dataset(name, root)
                row.update({k: len(v) for k, v in loaded.frames().items()})
            except TagrankInputError as exc:
                row["found"] = not isinstance(exc, DatasetNotFoundError)
                row["error"] = str(exc).splitlines()[0]
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.astype({frame: "Int64" for frame in FRAMES} | {"found": bool})
