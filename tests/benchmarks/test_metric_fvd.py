"""benchmarks.metric_fvd: the FVD feature path vs a bare I3D forward, at the smallest clip I3D takes
(one video of 9 frames, one round, no warm-up, no resize row): it runs and reports a ratio."""

from benchmarks.metric_fvd import main


def test_quick_run(capsys):
    rows = main(["--videos", "1", "--frames", "9", "--rounds", "1", "--no-warmup", "--skip-resize"])
    out = capsys.readouterr().out
    assert [row["name"] for row in rows] == ["224x224 uint8 input"]
    assert float(rows[0]["ratio"]) > 0 and float(rows[0]["metric_cps"]) > 0
    assert "max |metric - bare| feature difference: 0.0e+00" in out
    assert "target metric/bare throughput >= 0.9" in out
    assert "Fréchet distance of 2,048 vs 2,048" in out
