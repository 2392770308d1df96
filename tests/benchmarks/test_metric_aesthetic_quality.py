"""benchmarks.metric_aesthetic_quality: the quick run (a tiny embedder in place of ViT-L/14)
prints both rows and the target line (no wall-clock assertions)."""

from benchmarks.metric_aesthetic_quality import main


def test_quick_run(capsys):
    rows = main(["--quick"])
    out = capsys.readouterr().out
    assert [row["name"] for row in rows] == ["224x224 uint8 input", "320x512 uint8 (resize)"]
    for row in rows:
        assert row["metric_per_s"] > 0 and row["bare_per_s"] > 0 and row["ratio"] > 0
    assert "aesthetic_quality vs bare CLIP ViT-L/14 encode_image" in out
    assert "tiny convolutional embedder (smoke test) | 1 videos x 2 frames" in out
    assert "target metric/bare throughput >= 0.9 (224x224, CPU time):" in out
    # the metric and the bare forward + head score the same frames with the same weights
    diff = next(line for line in out.splitlines() if line.startswith("max |metric - bare"))
    assert float(diff.rsplit(" ", 1)[1]) < 1e-5
