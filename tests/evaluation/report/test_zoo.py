"""evaluation.report.zoo: every method against plain sampling on the same prompts and seeds."""

from __future__ import annotations

import pytest

from evaluation.report import build_report
from evaluation.report.zoo import PLAIN, method_name

DINO = "dino_consistency[dino_vits16]"


def test_method_names():
    assert method_name({}, refined=False) == PLAIN
    assert method_name({"freqprior": True}, refined=True) == "FreqPrior"
    assert method_name({"freqprior": None, "freeu": True}, refined=True) == "FreeInit + FreeU"
    assert method_name({"bytheway": True, "freeu": False}, refined=False) == "ByTheWay"
    assert method_name({"freenoise": float("nan")}, refined=False) == PLAIN


def test_method_table_pairs_every_method_with_plain_sampling(tmp_path, rows, write_job):
    plain = rows(num_iters=1)
    freeinit = rows(num_iters=3)
    freeu = rows(num_iters=1, freeu=True)  # make_rows: FreeU adds 3 to every pass
    bytheway = rows(num_iters=1).assign(
        bytheway=True,
        bytheway_tau=7,
        bytheway_alpha=0.6,
        bytheway_beta=1.5,
        bytheway_fraction=0.2,
        bytheway_clamp=False,
    )
    bytheway[DINO] += 1.0
    bytheway["sample_key"] = "b" + bytheway.sample_key  # another sample than plain's
    for i, frame in enumerate((plain, freeinit, freeu, bytheway)):
        write_job(tmp_path / str(i), frame)
    report = build_report(tmp_path, n_resamples=300)
    table = report.table("methods_vs_plain")
    names = [row[0] for row in table.rows]
    assert names == [PLAIN, "FreeInit", "FreeU", "ByTheWay"]
    by_name = {row[0]: row for row in table.rows}
    assert by_name["FreeInit"][2:4] == ["75", "3.00"] and by_name[PLAIN][2:4] == ["25", "1.00"]
    zoo = report.method_differences.set_index(["method", "metric"])
    assert zoo.loc[("FreeU", DINO)].delta == pytest.approx(3.0)
    assert zoo.loc[("ByTheWay", DINO)].delta == pytest.approx(1.0)
    assert zoo.loc[("FreeInit", DINO)].delta > 4  # make_rows: +6 over 2 refinements, noisy
    assert zoo.loc[(PLAIN, DINO)].delta == 0
    assert "methods_consistency_vs_motion" in report.figures


def test_no_method_table_without_a_comparison(tmp_path, rows, write_job):
    # One method (a FreeInit run, or several settings of it): the FreeInit tables say it all.
    write_job(tmp_path / "0", rows(num_iters=3))
    write_job(tmp_path / "1", rows(num_iters=3, method="box"))
    report = build_report(tmp_path, n_resamples=300)
    assert report.method_differences.empty
    assert "methods_vs_plain" not in [t.name for t in report.tables]
    assert "methods_consistency_vs_motion" not in report.figures
