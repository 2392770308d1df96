"""benchmarks.freqprior: FreqPrior vs FreeInit rows, and UNet calls as the schedule implies."""

import pytest
from diffusers import DDIMScheduler

from benchmarks.freqprior import (
    FREEINIT,
    FREQPRIOR,
    FREQPRIOR_FULL,
    ROWS,
    expected_calls,
    main,
    pick_mid_step,
    schedule_timesteps,
)
from freqlab.models.tiny import SCHEDULER_CONFIG


def leading_timesteps(steps):
    scheduler = DDIMScheduler.from_config(
        dict(SCHEDULER_CONFIG), timestep_spacing="leading", steps_offset=1, clip_sample=False
    )
    return schedule_timesteps(scheduler, steps)


@pytest.mark.parametrize(
    ("steps", "mid_step", "freqprior_calls"),
    [
        (25, 321, [16, 16, 25]),  # the official setting: 57 vs 75
        (50, 321, [33, 33, 50]),
        (5, 401, [2, 2, 5]),  # 321 is not a timestep: auto takes the nearest, 401
    ],
)
def test_mid_step_and_expected_calls(steps, mid_step, freqprior_calls):
    mid, index = pick_mid_step(leading_timesteps(steps))
    assert mid == mid_step
    expected = expected_calls(steps, index, 3)
    assert expected == {
        FREEINIT: [steps] * 3,
        FREQPRIOR: freqprior_calls,
        FREQPRIOR_FULL: [steps] * 3,
    }


def test_mid_step_must_be_a_later_timestep():
    with pytest.raises(SystemExit, match="not a timestep after the first"):
        pick_mid_step(leading_timesteps(25), 333)
    with pytest.raises(SystemExit, match="not a timestep after the first"):
        pick_mid_step(leading_timesteps(25), 961)  # the first: nothing to re-noise from


def test_quick_run_at_25_steps(capsys):
    rows = main(["--quick", "--steps", "25", "--no-warmup"])
    out = capsys.readouterr().out
    assert tuple(rows) == ROWS
    assert rows[FREEINIT].calls == [25, 25, 25]
    assert rows[FREQPRIOR].calls == [16, 16, 25]
    assert rows[FREQPRIOR_FULL].calls == [25, 25, 25]
    for row in rows.values():
        assert row.calls == row.expected
        assert len(row.walls) == len(row.cpus) == 1  # 1 video x 1 repeat
    lines = out.splitlines()
    for name in ROWS:
        assert any(line.startswith(f"{name} ") for line in lines), name
    assert "FreqPrior mid_step 321 (index 16" in out
    assert "FreqPrior/FreeInit: UNet calls 57/75 = 0.760" in out
    assert "UNet calls as the schedule implies: yes" in out
    # Finishing the earlier passes does not change the final latents (DDIM, eta 0).
    diff = next(line for line in lines if line.startswith("max |final FreqPrior"))
    assert float(diff.rsplit(" ", 1)[1]) < 1e-5
