"""evaluation.report.pairing: passes paired with their baseline, differences and FreeU arms."""

from __future__ import annotations

import pytest

from evaluation.report import build_report, freeinit_differences, load_sweep

DINO = "dino_consistency[dino_vits16]"


def test_merges_shards_and_jobs_and_drops_duplicates(tmp_path, rows, write_job, prompts):
    full = rows()
    shard0, shard1 = full[full.prompt_id.isin(prompts[:6])], full[full.prompt_id.isin(prompts[6:])]
    write_job(tmp_path / "sweep" / "0", shard0, ["dataset.shard=0"])
    write_job(tmp_path / "sweep" / "1", shard1, ["dataset.shard=1"])
    write_job(tmp_path / "sweep" / "rerun" / "0", shard1)  # the same samples again
    write_job(tmp_path / "sweep" / "2", rows(method="butterworth"))
    sweep = load_sweep(tmp_path / "sweep")
    assert len(sweep.jobs) == 4 and sweep.duplicates == len(shard1)
    assert sweep.setting_columns == ["model", "dataset", "method"]
    assert sweep.metrics == [DINO, "motion"]
    diffs = freeinit_differences(sweep, n_resamples=500)
    final = diffs[diffs.final & (diffs.metric == DINO)].set_index("method")
    assert final.loc["gaussian", "n"] == final.loc["butterworth", "n"] == len(prompts)
    # the mean difference is the plain mean of per-video differences
    f = sweep.frame[sweep.frame.method == "gaussian"].pivot(index="prompt_id", columns="iteration")
    assert final.loc["gaussian", "delta"] == pytest.approx((f[DINO][4] - f[DINO][0]).mean())
    assert final.loc["gaussian", "ci_low"] > 0  # gain 6, noise 0.5
    assert final.loc["gaussian", "steps"] == 5 * 25


def test_coarse_to_fine_is_paired_with_the_full_step_baseline(tmp_path, rows, write_job):
    write_job(tmp_path / "0", rows(fast=False))
    write_job(tmp_path / "1", rows(fast=True))
    diffs = freeinit_differences(load_sweep(tmp_path), n_resamples=200)
    d = diffs[(diffs.metric == DINO) & diffs.final].set_index("fast_sampling")
    # the coarse pass 0 is 10 points worse; pairing with it would inflate the gain
    assert d.loc[True, "baseline"] == pytest.approx(d.loc[False, "baseline"])
    assert d.loc[True, "delta"] == pytest.approx(d.loc[False, "delta"], abs=1.0)
    assert d.loc[True, "baseline_source"].startswith("iteration 0 of")
    assert d.loc[True, "steps"] < d.loc[False, "steps"]
    # alone, a coarse run falls back on its own pass 0 and says so
    write_job(tmp_path / "alone", rows(fast=True))
    alone = freeinit_differences(load_sweep(tmp_path / "alone"), n_resamples=200)
    assert alone.baseline_source.iloc[0].startswith("pass 0 (coarse")


def test_freeu_arms_against_plain_sampling(tmp_path, rows, write_job):
    write_job(tmp_path / "0", rows(freeu=False))
    write_job(tmp_path / "1", rows(freeu=True))
    report = build_report(tmp_path, n_resamples=300)
    arms = report.freeu_differences
    arms = arms[arms.metric == DINO].set_index("arm")
    assert list(arms.index) == ["plain sampling", "FreeInit", "FreeU", "FreeU + FreeInit"]
    assert arms.loc["FreeU", "delta"] == pytest.approx(3.0)
    assert arms.loc["FreeU + FreeInit", "delta"] == pytest.approx(9.0, abs=0.5)
    table = report.table("freeu_dino_consistency-dino_vits16").to_markdown()
    assert "FreeU + FreeInit" in table and "+3.00 [+3.00, +3.00]" in table
