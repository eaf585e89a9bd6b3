"""The README's API tour runs as written (a stale README is a bug)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_api_tour_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(blocks[0], ns)  # noqa: S102 - our own README
    first = ns["pipe"].search(["red running shoes"], k=3)
    assert list(first.columns[:4]) == ["query", "item_id", "score", "rank"] and len(first) == 3
    trained = ns["pipe"].search(["cordless drill"], k=10)
    ns["bm25"].save("models/bm25")
    ns["enc"].save("models/transformer")
    exec(blocks[1], ns)  # noqa: S102
    # The reloaded pipeline ranks exactly as the one that was trained.
    assert ns["results"]["item_id"].tolist() == trained["item_id"].tolist()
    assert ns["results"]["score"].tolist() == trained["score"].tolist()
