"""The README's testbed-results script: paired differences, CIs, the markdown table, the plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.results import config_row, load_sweep
from experiments import testbed_results as tr


def _job(
    folder: Path, rng: np.random.Generator, shift: float, method: str, iterations: int = 5
) -> Path:
    """A results file for 12 (prompt, seed) pairs; every metric rises by ``shift`` per iteration
    (``iterations=1``: a FreeU run, FreeInit off)."""
    freeu = dict(b1=1.5, b2=1.6, s1=0.9, s2=0.2, variant="v1", stages="diffusers")
    config = config_row(
        run=dict(model="testbed", dataset="shapes"),
        freeinit=dict(
            method=method,
            d_s=0.25,
            d_t=0.25,
            order=4,
            num_iters=iterations,
            fast_sampling=False,
            variance_preserving=False,
            flow_sigma=0.96,
            renoise_timestep="auto",
            rng="per_sample",
        ),
        freeu=freeu if iterations == 1 else None,
        freqprior=None,
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
    rows = []
    for prompt in range(6):
        for seed in range(2):
            base = 80 + 5 * np.sin(prompt + 10 * seed) * np.ones(len(tr.METRICS))
            for it in range(iterations):
                noise = rng.normal(scale=1e-4, size=len(tr.METRICS))
                values = dict(zip(tr.METRICS, base + shift * it + noise, strict=True))
                key = f"{method}-{iterations}-{prompt}-{seed}"
                rows.append(
                    dict(sample_key=key, prompt_id=f"p{prompt}", prompt=f"prompt {prompt}")
                    | dict(seed=seed, iteration=it, is_final=it == iterations - 1, steps=25)
                    | config
                    | values
                )
    folder.mkdir(parents=True)
    frame = pd.DataFrame(rows)
    if iterations == 1:  # FreeU on: every metric 0.05 above plain sampling
        frame[list(tr.METRICS)] += 0.05
    frame.to_parquet(folder / "results.parquet", index=False)
    return folder


def test_differences_are_paired_against_iteration_zero(tmp_path):
    rng = np.random.default_rng(0)
    jobs = [
        _job(tmp_path / "gaussian", rng, 0.1, "gaussian"),
        _job(tmp_path / "butterworth", rng, -0.2, "butterworth"),
        _job(tmp_path / "freeu", rng, 0.0, "gaussian", iterations=1),
    ]
    diff = tr.differences(load_sweep(*jobs))
    # the per-pair base values are large and spread; pairing removes them
    g = diff[(diff.setting == "gaussian") & (diff.iteration == 3)]
    assert np.allclose(g["diff"], 0.3, atol=2e-3)
    assert (g.lo <= g["diff"]).all() and (g["diff"] <= g.hi).all() and (g.hi - g.lo < 0.01).all()
    b = diff[(diff.setting == "butterworth") & (diff.iteration == 4)]
    assert np.allclose(b["diff"], -0.8, atol=2e-3) and (b.n == 12).all()
    f = diff[diff.setting == "freeu"]
    assert np.allclose(f["diff"], 0.05, atol=2e-3) and (f.iteration == 0).all() and len(f) == 3

    text = tr.markdown(diff, 6, 2)
    assert "6 held-out prompts x 2 seeds = 12 pairs" in text
    assert text.count("| FreeInit gaussian |") == 4 and "| FreeU on (FreeInit off) | - |" in text
    assert "+0.3000" in text and " *" in text  # a CI that excludes 0 is starred
    tr.plot(diff, tmp_path / "freeinit.png")
    assert (tmp_path / "freeinit.png").stat().st_size > 10_000


def test_snr_clips_are_the_testbed_training_data(tmp_path):
    tr.write_snr_clips(tmp_path, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "clip000.gif",
        "clip001.gif",
        "clip002.gif",
    ]


def test_sample_figure_shows_every_arm(tmp_path):
    tr.sample_figure(tmp_path / "samples.png", num_prompts=1, num_inference_steps=2)
    assert (tmp_path / "samples.png").stat().st_size > 5_000


@pytest.mark.parametrize(
    "argv", [["--prompts", "0"], ["--prompts", "49"], ["--seeds", "0"], ["--threads", "0"]]
)
def test_bad_arguments_are_one_message(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        tr.main(argv)
    assert exit_info.value.code == 2 and "must be" in capsys.readouterr().err


def test_the_method_zoo_runs_every_arm_against_plain_sampling(tmp_path):
    from evaluation.report.zoo import PLAIN, method_differences

    tiny = ("model.num_inference_steps=3", "model.num_frames=4", f"paths.cache_dir={tmp_path}/c")
    jobs = tr.run_zoo(tmp_path, num_prompts=2, num_seeds=1, threads=1, extra=tiny)
    assert [j.name for j in jobs] == list(tr.ZOO_ARMS)
    sweep = load_sweep(*jobs)
    zoo = method_differences(sweep, n_resamples=200)
    assert list(dict.fromkeys(zoo.method)) == [
        PLAIN,
        "FreeInit",
        "FreqPrior",
        "FreeU",
        "ByTheWay",
        "FreeInit + FreeU",
        "FreeInit + ByTheWay",
        "FreqPrior + ByTheWay",
    ]
    steps = zoo.drop_duplicates("method").set_index("method").unet_steps
    assert steps[PLAIN] == 3 and steps["FreeInit"] == 9 and steps["FreqPrior"] < 9
    text = tr.zoo_markdown(zoo, sweep)
    assert text.startswith("| method | n | UNet steps |") and "| FreqPrior + ByTheWay | 2 |" in text
