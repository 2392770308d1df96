"""python -m evaluation.report: every file written, its own output ignored, one-line errors."""

from __future__ import annotations

from evaluation.report import main


def test_cli_writes_every_file_and_ignores_its_own_output(tmp_path, capsys, rows, write_job):
    write_job(tmp_path / "sweep" / "0", rows(cache=tmp_path / "cache"))
    write_job(tmp_path / "sweep" / "1", rows(method="box", cache=tmp_path / "cache"))
    assert main([str(tmp_path / "sweep"), "--resamples", "200"]) == 0
    out = tmp_path / "sweep" / "report"
    for name in ("tables.md", "tables.tex", "differences.csv", "results_merged.parquet"):
        assert (out / name).stat().st_size > 0
    assert {p.name for p in (out / "plots").iterdir()} == {
        "metric_vs_iteration.png",
        "consistency_vs_motion.png",
    }
    assert (out / "tables" / "table1_dino_consistency-dino_vits16.tex").is_file()
    assert "Baseline vs FreeInit" in capsys.readouterr().out
    # a second run does not read results_merged.parquet back in
    assert (
        main([str(tmp_path / "sweep"), "--resamples", "200", "--no-html", "--confidence", "0.9"])
        == 0
    )
    assert "(0 duplicates dropped)" in capsys.readouterr().out
    assert "Δ [90% CI]" in (out / "tables.md").read_text()
    assert main([str(tmp_path / "nowhere")]) == 1
    assert "does not exist" in capsys.readouterr().err
