"""benchmarks.metric_imaging_quality: the quick run prints both rows and the target line (no
wall-clock assertions)."""

from benchmarks.metric_imaging_quality import main


def test_quick_run(capsys):
    rows = main(["--quick"])
    out = capsys.readouterr().out
    assert [row["name"] for row in rows] == ["24x40 uint8 input", "48x80 uint8 (resize)"]
    for row in rows:
        assert row["metric_fps"] > 0 and row["bare_fps"] > 0 and row["ratio"] > 0
    assert "imaging_quality vs bare MUSIQ forward" in out
    assert "1 videos x 2 frames of 24 x 40" in out
    assert "target metric/bare throughput >= 0.9 (24x40, CPU time):" in out
    # the metric and the bare forward score the same frames with the same weights
    diff = next(line for line in out.splitlines() if line.startswith("max |metric - bare|"))
    assert float(diff.rsplit(" ", 1)[1]) < 1e-4
