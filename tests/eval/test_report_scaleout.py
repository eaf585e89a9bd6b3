"""The scale-out report block: equality checks and the sizing table from a results file."""

from __future__ import annotations

from tagrank.eval.report_scaleout import scaleout_markdown


def test_scaleout_markdown_tables():
    doc = {
        "equality": {"topk_ids_equal_single_machine_same_threads": True, "encode_max_abs_diff_vs_single_process": 2.5e-7},
        "sizing": [{"job": "encode 10,000,000 product titles", "workers_1h": 12, "memory_per_worker_mb": 900,
                    "per_worker_rate": "250 texts/s"}],
    }
    text = scaleout_markdown(doc)
    assert "| topk_ids_equal_single_machine_same_threads | yes |" in text
    assert "| encode_max_abs_diff_vs_single_process | 2.5e-07 |" in text
    assert "| encode 10,000,000 product titles | 12 | 900 | 250 texts/s |" in text


def test_scaleout_markdown_empty_without_sections():
    assert scaleout_markdown({"figures": {}, "ratios": {}}) == ""
