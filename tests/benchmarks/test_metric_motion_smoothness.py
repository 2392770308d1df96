"""benchmarks.metric_motion_smoothness: one quick run at 128 x 128 prints the row and the target
line, and the metric's model and the bare model predict the same frames."""

from benchmarks.metric_motion_smoothness import main


def test_quick_run(capsys):
    row = main(["--size", "128", "128", "--frames", "3", "--rounds", "1", "--no-warmup"])
    out = capsys.readouterr().out
    assert row["frames"] == 1
    assert row["diff"] == 0.0
    assert row["ratio"] > 0 and row["metric_fps"] > 0 and row["bare_fps"] > 0
    assert "128x128 uint8 input" in out
    assert "target metric/bare throughput >= 0.9 (CPU time):" in out
