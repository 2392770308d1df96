"""The README's testbed-results script: paired differences, CIs, the markdown table, the plot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments import testbed_results as tr


def _frame(shift: float, rng: np.random.Generator, iterations: int = 5) -> pd.DataFrame:
    """Results rows for 12 (prompt, seed) pairs; every metric rises by ``shift`` per iteration."""
    rows = []
    for prompt in range(6):
        for seed in range(2):
            base = rng.normal(size=len(tr.METRICS))
            for it in range(iterations):
                noise = rng.normal(scale=1e-3, size=len(tr.METRICS))
                values = dict(zip(tr.METRICS, base + shift * it + noise, strict=True))
                rows.append(dict(prompt_id=prompt, seed=seed, iteration=it, **values))
    return pd.DataFrame(rows)


def test_differences_are_paired_against_iteration_zero(tmp_path):
    rng = np.random.default_rng(0)
    frames = {"gaussian": _frame(0.1, rng), "butterworth": _frame(-0.2, rng)}
    frames["freeu"] = frames["gaussian"][frames["gaussian"].iteration == 0].copy()
    frames["freeu"][list(tr.METRICS)] += 0.05
    diff = tr.differences(frames)
    # the per-pair base values are large and random; pairing removes them
    g = diff[(diff.setting == "gaussian") & (diff.iteration == 3)]
    assert np.allclose(g["diff"], 0.3, atol=2e-3)
    assert (g.lo <= g["diff"]).all() and (g["diff"] <= g.hi).all() and (g.hi - g.lo < 0.01).all()
    b = diff[(diff.setting == "butterworth") & (diff.iteration == 4)]
    assert np.allclose(b["diff"], -0.8, atol=2e-3) and (b.n == 12).all()
    f = diff[diff.setting == "freeu"]
    assert np.allclose(f["diff"], 0.05) and (f.iteration == 0).all()

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


@pytest.mark.parametrize("argv", [["--prompts", "0"], ["--prompts", "49"], ["--seeds", "0"]])
def test_bad_arguments_are_one_message(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        tr.main(argv)
    assert exit_info.value.code == 2 and "must be" in capsys.readouterr().err
