"""experiments.snr_levels: every registry model's schedule levels (no weights), their properties
(not a hard-coded list of models: models added later are checked as they come), a scheduler
outside the registry, the markdown table and the command line."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from diffusers import DDIMScheduler, EulerDiscreteScheduler

from experiments.snr_levels import (
    COLUMNS,
    DEFAULT_FLOW_SIGMA,
    main,
    markdown_table,
    registry_levels,
    schedule_levels,
)
from freqlab.models import MODELS, get_model_spec
from freqlab.models.pretrained import build_scheduler
from freqlab.schedules import REFERENCE_SNR_DB, ZERO_SNR_DB, diffuse_to_last_timestep


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return registry_levels()


def _measured_renoise_snr_db(scheduler) -> float:
    """The SNR of FreeInit's re-noised latent, read off its two weights (z0 = 1, then eps = 1)."""
    one, zero = torch.ones(1, 1, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64)
    signal = float(diffuse_to_last_timestep(scheduler, one, zero))
    noise = float(diffuse_to_last_timestep(scheduler, zero, one))
    return float(20.0 * np.log10(abs(signal) / noise))


def test_one_row_per_registry_model_in_order(table):
    assert list(table.columns) == list(COLUMNS)
    assert list(table.model) == list(MODELS)
    for row in table.itertuples():
        spec = get_model_spec(row.model)
        assert row.scheduler == spec.scheduler["_class_name"]
        assert row.num_inference_steps == spec.defaults["num_inference_steps"]


def test_values_are_finite_except_where_documented(table):
    assert np.isfinite(table.renoise_snr_db).all()
    for column in ("last_snr_db", "first_snr_db"):  # -inf: no signal left, never NaN
        values = table[column].to_numpy()
        assert not np.isnan(values).any()
        assert (np.isfinite(values) | (values == -math.inf)).all(), column
    flow = table.noising == "flow"
    # NaN only where a column does not apply to the schedule's kind.
    assert table.renoise_timestep[flow].isna().all()
    assert np.isfinite(table.renoise_timestep[~flow]).all()
    assert np.isfinite(table.renoise_sigma[flow]).all() and table.renoise_sigma[~flow].isna().all()
    assert (table.flow_shift[flow] > 0).all() and table.flow_shift[~flow].isna().all()
    assert np.isfinite(table.first_timestep).all()


def test_zero_terminal_snr_rows_renoise_near_the_reference(table):
    zero = table[table.zero_terminal_snr]
    assert (zero.last_snr_db < ZERO_SNR_DB).all()
    assert (table.last_snr_db[~table.zero_terminal_snr] >= ZERO_SNR_DB).all()
    assert ((zero.renoise_snr_db - REFERENCE_SNR_DB).abs() < 1.0).all()
    # -inf at the last timestep means zero terminal SNR, and every flow path ends there.
    assert table.zero_terminal_snr[table.last_snr_db == -math.inf].all()
    assert table.zero_terminal_snr[table.noising == "flow"].all()
    ddpm = zero[zero.noising != "flow"]
    assert (ddpm.renoise_timestep < ddpm.last_timestep).all()
    assert (zero.renoise_sigma[zero.noising == "flow"] == DEFAULT_FLOW_SIGMA).all()


def test_other_rows_renoise_at_the_last_timestep(table):
    # "auto" leaves every ordinary schedule as FreeInit was written: t = T - 1, its own SNR.
    rest = table[~table.zero_terminal_snr]
    assert (rest.renoise_timestep == rest.last_timestep).all()
    assert (rest.renoise_snr_db == rest.last_snr_db).all()
    assert (rest.renoise_at == [f"t = {t}" for t in rest.last_timestep]).all()


def test_first_sampling_step_is_no_cleaner_than_the_reach_of_training(table):
    # The first sampling timestep is at most the last training one, so its SNR is at least as high.
    assert (table.first_snr_db >= table.last_snr_db).all()
    assert (table.first_timestep <= table.num_train_timesteps).all()


def test_reported_renoise_level_is_what_freeinit_produces(table):
    for row in table.itertuples():
        scheduler = build_scheduler(get_model_spec(row.model).scheduler)
        measured = _measured_renoise_snr_db(scheduler)
        assert row.renoise_snr_db == pytest.approx(measured, abs=1e-4), row.model


def test_a_scheduler_outside_the_registry():
    # AnimateDiff's betas rescaled to zero terminal SNR: t = 881 (freqlab.schedules' docstring).
    zero = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="linear",
        rescale_betas_zero_snr=True,
        timestep_spacing="trailing",
        prediction_type="v_prediction",
    )
    row = schedule_levels(zero, 25, model="custom")
    assert row["zero_terminal_snr"] and row["last_snr_db"] == -math.inf
    assert row["first_timestep"] == 999 and row["first_snr_db"] == -math.inf
    assert row["renoise_at"] == "t = 881" and row["renoise_timestep"] == 881
    assert row["renoise_snr_db"] == pytest.approx(REFERENCE_SNR_DB, abs=0.1)
    assert row["prediction_type"] == "v_prediction"
    assert "rescaled to zero terminal SNR" in row["schedule"]
    # "last" is FreeInit as written: pure noise.
    assert schedule_levels(zero, 25, rule="last")["renoise_snr_db"] == -math.inf
    # Euler's 2**-24 floor: finite at the last timestep, still zero SNR.
    euler = schedule_levels(EulerDiscreteScheduler(rescale_betas_zero_snr=True), 25)
    assert math.isfinite(euler["last_snr_db"]) and euler["zero_terminal_snr"]
    assert euler["renoise_snr_db"] == pytest.approx(REFERENCE_SNR_DB, abs=0.5)
    assert zero.config.timestep_spacing == "trailing"  # not modified


def test_markdown_table(table):
    text = markdown_table(table)
    lines = text.splitlines()
    assert len(lines) == len(table) + 2
    assert len({line.count("|") for line in lines}) == 1
    assert "−∞" in text and "nan" not in text.lower()
    assert all(f"| {name} |" in text for name in MODELS)


def test_command_line(tmp_path, capsys, table):
    names = list(MODELS)[:2]
    out = tmp_path / "levels.parquet"
    assert main(["--models", *names, "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("\n") == len(names) + 2
    frame = pd.read_parquet(out)
    assert list(frame.model) == names and list(frame.columns) == list(COLUMNS)
    ddpm = table.model[table.noising != "flow"].iloc[0]  # an int rule applies to DDPM types
    assert main(["--models", ddpm, "--renoise-timestep", "500"]) == 0
    assert "| t = 500 |" in capsys.readouterr().out
    with pytest.raises(SystemExit) as err:
        main(["--models", "no_such_model"])
    assert err.value.code == 2


def test_readme_rows_are_what_the_command_prints(table):
    # The README's table (section "SNR by frequency") is this module's output: every row it shows
    # must still be printed as is. Models added since are not required there.
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text().splitlines()
    lines = markdown_table(table).splitlines()
    printed = {line.split("|")[1].strip(): line for line in lines[2:]}
    start = readme.index(lines[0])
    assert readme[start + 1] == lines[1]
    rows = []
    for line in readme[start + 2 :]:
        if not line.startswith("| "):
            break
        rows.append(line)
    assert rows
    for line in rows:
        name = line.split("|")[1].strip()
        assert line == printed.get(name), name
