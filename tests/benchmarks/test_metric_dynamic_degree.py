"""benchmarks.metric_dynamic_degree: the quick run prints the row and the target line (no
wall-clock assertions)."""

from benchmarks.metric_dynamic_degree import main


def test_quick_run(capsys):
    rows = main(["--quick"])
    out = capsys.readouterr().out
    assert [row["name"] for row in rows] == ["128x128 uint8 input"]
    for row in rows:
        assert row["metric_per_s"] > 0 and row["bare_per_s"] > 0 and row["ratio"] > 0
    assert "dynamic_degree vs bare RAFT forward (raft_large_v1)" in out
    assert "1 videos x 2 frames of 128 x 128 at 8 fps (1 pairs) | 2 updates" in out
    assert "target metric/bare throughput >= 0.9 (128x128, CPU time):" in out
    # the metric and the bare forward score the same pairs with the same weights
    diff = next(line for line in out.splitlines() if line.startswith("max |metric - bare|"))
    assert float(diff.rsplit(" ", 1)[1]) < 1e-4
