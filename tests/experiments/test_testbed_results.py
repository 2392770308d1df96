"""The README's testbed-results script: its jobs (two encoders over the same cached samples), the
table of every method and iteration with paired CIs, the figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.report.zoo import PLAIN
from evaluation.results import config_row, load_sweep
from experiments import testbed_report as report
from experiments import testbed_results as tr
from freqlab.atomic import umask_mode

_FREEINIT = dict(
    d_s=0.25,
    d_t=0.25,
    order=4,
    fast_sampling=False,
    variance_preserving=False,
    flow_sigma=0.96,
    renoise_timestep="auto",
    rng="per_sample",
)
_FREQPRIOR = dict(
    num_iters=3,
    ratio=0.8,
    mid_step=321,
    method="butterworth",
    d_s=0.25,
    d_t=0.25,
    order=4,
    flow_sigma=0.96,
    renoise_timestep="auto",
    mid_sigma=None,
    rng="per_sample",
)
_FREEU = dict(b1=1.5, b2=1.6, s1=0.9, s2=0.2, variant="v1", stages="diffusers")


def _job(
    folder: Path,
    shift: float,
    *,
    method: str = "gaussian",
    iterations: int = 4,
    freeu: bool = False,
    freqprior: bool = False,
    offset: float = 0.0,
) -> Path:
    """A results file for 12 (prompt, seed) pairs: iteration 0 is plain sampling (``offset`` above
    it with FreeU on), every metric rises by ``shift`` per iteration; 25 UNet steps per pass."""
    config = config_row(
        run=dict(model="testbed", dataset="shapes"),
        freeinit=dict(_FREEINIT, method=method, num_iters=1 if freqprior else iterations),
        freeu=_FREEU if freeu else None,
        freqprior=_FREQPRIOR if freqprior else None,
        bytheway=None,
        freenoise=None,
        freelong=None,
        sampling=dict(
            num_frames=8,
            height=32,
            width=32,
            num_inference_steps=25,
            guidance_scale=7.5,
            dtype="float32",
        ),
    )
    metrics = report.TABLE_METRICS
    rows = []
    for prompt in range(6):
        for seed in range(2):
            # large, spread per-pair values: only pairing removes them
            base = 50 + 20 * np.sin(prompt + 10 * seed) * np.ones(len(metrics)) + offset
            for it in range(iterations):
                values = dict(zip(metrics, base + shift * it, strict=True))
                rows.append(
                    dict(sample_key=f"{folder.name}-{prompt}-{seed}", prompt_id=f"p{prompt}")
                    | dict(prompt=f"prompt {prompt}", seed=seed, iteration=it)
                    | dict(is_final=it == iterations - 1, steps=25, unet_steps=25 * (it + 1))
                    | config
                    | values
                )
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(folder / "results.parquet", index=False)
    return folder


def test_every_method_and_iteration_is_paired_with_plain_sampling(tmp_path):
    jobs = [
        _job(tmp_path / "gaussian", 0.1),
        _job(tmp_path / "butterworth", -0.2, method="butterworth"),
        _job(tmp_path / "freqprior", 0.3, iterations=3, freqprior=True),
        _job(tmp_path / "freeu", 0.0, iterations=1, freeu=True, offset=0.05),
        _job(tmp_path / "freeinit_freeu", 0.5, iterations=3, freeu=True, offset=0.05),
        # the zoo's FreeInit: the butterworth sweep's first passes again (kept once)
        _job(tmp_path / "zoo_freeinit", -0.2, method="butterworth", iterations=3),
    ]
    rows = report.method_rows(load_sweep(*jobs), n_resamples=500)
    keys = list(dict.fromkeys(zip(rows.method, rows.iteration, strict=True)))
    assert keys == [
        (PLAIN, 0),
        *(("FreeInit gaussian", k) for k in (1, 2, 3)),
        *(("FreeInit butterworth", k) for k in (1, 2, 3)),
        ("FreqPrior", 1),
        ("FreqPrior", 2),
        ("FreeU", 0),
        ("FreeInit gaussian + FreeU", 1),
        ("FreeInit gaussian + FreeU", 2),
    ]
    assert (rows.n == 12).all() and set(rows.metric) == set(report.TABLE_METRICS)
    g = rows[(rows.method == "FreeInit gaussian") & (rows.iteration == 3)]
    assert np.allclose(g["diff"], 0.3) and np.allclose(g.hi - g.lo, 0, atol=1e-9)
    assert (g.unet_steps == 100).all()
    b = rows[(rows.method == "FreeInit butterworth") & (rows.iteration == 2)]
    assert np.allclose(b["diff"], -0.4)
    # FreeU and its combination against plain sampling (not against their own iteration 0)
    assert np.allclose(rows[rows.method == "FreeU"]["diff"], 0.05)
    combo = rows[(rows.method == "FreeInit gaussian + FreeU") & (rows.iteration == 2)]
    assert np.allclose(combo["diff"], 1.05)
    plain = rows[rows.method == PLAIN]
    assert plain["diff"].isna().all() and np.allclose(plain.value, plain.base)

    text = report.markdown(rows, "about")
    header = "| method | iteration | n | UNet steps | " + " | ".join(
        f"Δ {m}" for m in report.TABLE_METRICS
    )
    assert text.startswith("about\n") and header in text
    assert "| FreeInit gaussian | 3 | 12 | 100 | +0.30 [+0.30, +0.30] * |" in text
    assert "| FreeU | 0 | 12 | 25 | +0.05 [+0.05, +0.05] * |" in text
    assert f"| {PLAIN} | 0 | 12 | 25 | " in text and "(marked from 10 pairs on)" in text
    report.plot_iterations(rows, tmp_path / "iterations.png")
    assert report.plot_tradeoff(rows, tmp_path / "tradeoff.png")
    assert (tmp_path / "iterations.png").stat().st_size > 10_000
    for name in ("iterations.png", "tradeoff.png"):  # written atomically, with the umask
        assert (tmp_path / name).stat().st_mode & 0o777 == umask_mode()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_snr_clips_are_the_testbed_training_data(tmp_path):
    tr.write_snr_clips(tmp_path, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "clip000.gif",
        "clip001.gif",
        "clip002.gif",
    ]
    assert all(p.stat().st_mode & 0o777 == umask_mode() for p in tmp_path.iterdir())


@pytest.mark.parametrize(
    "argv",
    [
        ["--prompts", "0"],
        ["--prompts", "49"],
        ["--seeds", "0"],
        ["--threads", "0"],
        ["--steps", "0"],
        ["--skip-zoo", "--skip-freeinit"],
    ],
)
def test_bad_arguments_are_one_message(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        tr.main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and ("must be" in err or "nothing to run" in err)


def test_every_setting_runs_with_both_encoders(tmp_path):
    jobs = tr.plan_jobs(tmp_path, 48, 2, 2)
    names = [(j.name, j.encoder) for j in jobs]
    settings = ["gaussian", "butterworth", *(f"zoo/{arm}" for arm in tr.ZOO_ARMS)]
    assert names == [(s, e) for s in settings for e in tr.ENCODERS]
    assert all(f"metrics.encoder={j.encoder}" in j.overrides for j in jobs)
    assert "freeinit.num_iters=6" in jobs[0].overrides
    assert [j.name for j in tr.plan_jobs(tmp_path, 2, 1, 1, zoo=False)] == [
        "gaussian",
        "gaussian",
        "butterworth",
        "butterworth",
    ]


def test_a_tiny_run_writes_the_table_and_the_figure(tmp_path, capsys):
    """2 held-out prompts x 1 seed, 3 DDIM steps, 2 FreeInit refinements on the shipped testbed:
    every method's rows with every column, the judge pass sampling nothing, the figure."""
    cache, docs = tmp_path / "cache", tmp_path / "docs"
    argv = ["--prompts", "2", "--seeds", "1", "--steps", "3", "--refinements", "2"]
    argv += ["--skip-snr", "--threads", "1", "--resamples", "200"]
    argv += ["--out", str(tmp_path / "out"), "--cache-dir", str(cache), "--docs", str(docs)]
    result = tr.main(argv)
    printed = capsys.readouterr().out
    assert "20 jobs (10 settings x 2 encoders)" in printed

    # the judge pass measured the cached samples: no pass sampled, its features computed
    judge = [j for j in result["jobs"] if j.encoder == "testbed_judge"]
    assert len(judge) == 10
    assert all(j.summary["passes_generated"] == 0 and j.summary["unet_calls"] == 0 for j in judge)
    # each distinct pass once (jobs share passes: every pass 0 of plain sampling, the zoo's
    # FreeInit is the butterworth sweep's), for the 3 consistency metrics on judge features
    distinct = load_sweep(tmp_path / "out" / "pixel").frame.pass_key.nunique()
    assert sum(j.summary["metric_values_computed"] for j in judge) == 3 * distinct
    # the estimate printed at start is what the jobs did
    pixel = [j for j in result["jobs"] if j.encoder == "pixel"]
    assert result["plan"]["unet_calls"] == sum(j.summary["unet_calls"] for j in pixel)
    assert result["plan"]["passes_to_generate"] == sum(j.summary["passes_generated"] for j in pixel)
    # and a re-run would do nothing
    again = tr.estimate(result["jobs"], cache)
    assert again["passes_to_generate"] == 0 and again["metric_values_to_compute"] == 0

    text = (docs / "testbed_results.md").read_text()
    assert text == result["markdown"] and text in printed
    header = "| method | iteration | n | UNet steps | " + " | ".join(
        f"Δ {m}" for m in report.TABLE_METRICS
    )
    assert header in text
    methods = [
        "FreeInit gaussian",
        "FreeInit butterworth",
        "FreqPrior",
        "FreeU",
        "ByTheWay",
        "FreeInit butterworth + FreeU",
        "FreeInit butterworth + ByTheWay",
        "FreqPrior + ByTheWay",
    ]
    assert f"| {PLAIN} | 0 | 2 | 3 |" in text
    for k, steps in ((1, 6), (2, 9)):
        assert f"| FreeInit gaussian | {k} | 2 | {steps} |" in text
        assert f"| FreeInit butterworth | {k} | 2 | {steps} |" in text
    for m in methods[2:]:
        its = (0,) if m in ("FreeU", "ByTheWay") else (1, 2)
        assert all(f"| {m} | {k} | 2 |" in text for k in its), m
    table = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(table) == 1 + 1 + 4 + 2 + 2 + 6  # header, plain, FreeInit x2 filters, ...
    assert all(line.count("|") == 10 for line in table)  # 9 columns, each filled
    rows = result["rows"]
    assert {"temporal_flicker", "dino_consistency[testbed_judge]"} <= set(rows.metric)
    assert rows[rows.method != PLAIN]["diff"].notna().all()

    assert result["shown"] == [PLAIN, *methods]
    for name in ("testbed_samples.png", "testbed_freeinit.png", "testbed_zoo.png"):
        assert (docs / name).stat().st_size > 10_000
