"""evaluation.report.vbench: VBench dimensions per setting beside the leaderboard's values."""

from __future__ import annotations

from evaluation import paper_numbers
from evaluation.report import build_report
from evaluation.report.vbench import vbench_columns


def test_vbench_columns_in_leaderboard_order():
    metrics = ["imaging_quality[musiq_spaq]", "motion", "dynamic_degree[raft_large_v1]"]
    assert vbench_columns(metrics) == [
        "dynamic_degree[raft_large_v1]",
        "imaging_quality[musiq_spaq]",
    ]


def test_table_beside_the_leaderboard(tmp_path, rows, write_job):
    frame = rows(model="animatediff", num_iters=2)
    frame["motion_smoothness[amt_s]"] = 0.97
    frame["imaging_quality[musiq_spaq]"] = 60.0  # MUSIQ's 0-100 scale per video
    write_job(tmp_path / "0", frame)
    report = build_report(tmp_path, n_resamples=200)
    table = report.table("vbench")
    assert table.header == ["setting", "pass", "n", "motion_smoothness", "imaging_quality"]
    plain, last, board = table.rows
    assert plain[1] == "plain (iteration 0)" and last[1] == "last (iteration 1)"
    assert plain[3:] == ["97", "60"]
    assert board[0] == "AnimateDiff-V2 (leaderboard)" and board[3:] == ["97.76", "70.10"]
    assert paper_numbers.vbench_reported("modelscope", "dynamic_degree") == 66.39
    assert paper_numbers.vbench_reported("testbed", "dynamic_degree") is None
    assert "not checked against the leaderboard" in table.notes[0]


def test_no_table_without_vbench_dimensions(tmp_path, rows, write_job):
    write_job(tmp_path / "0", rows(num_iters=2))
    assert "vbench" not in [t.name for t in build_report(tmp_path, n_resamples=200).tables]
