"""How noisy each model's schedule is at its ends, and where FreeInit re-noises: no weights needed.

FreeInit re-noises a pass's result to the last training timestep. On AnimateDiff's schedule that
level keeps some signal (-28 dB); on a zero-terminal-SNR schedule (CogVideoX, any
``rescale_betas_zero_snr``) and on a flow-matching path (sigma = 1) it keeps none, and
``renoise_timestep="auto"`` / ``flow_sigma`` pick a level that does
(:func:`freqlab.schedules.resolve_renoise_timestep`). This module measures it per schedule:

* :func:`schedule_levels`: one scheduler's row: class, prediction type, schedule, the SNR at the
  last training timestep and at the first sampling timestep, the re-noise point and its SNR;
* :func:`registry_levels`: a row for every model of :data:`freqlab.models.MODELS`, each scheduler
  built from the registry's scheduler config (nothing is downloaded or loaded);
* ``python -m experiments.snr_levels``: that table as markdown (the README's, in "SNR by
  frequency"); ``--output levels.parquet`` also writes it.

``task=snr`` writes its model's row (the scheduler it actually loaded, with the run's ``freeinit``
settings) to ``snr_levels.parquet``.
"""

from __future__ import annotations

import argparse
import inspect
import math
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from freqlab.freeinit import FreeInit
from freqlab.schedules import (
    ZERO_SNR_DB,
    config_flow_shift,
    noising_rule,
    renoise_snr_db,
    resolve_renoise_timestep,
    schedule_from_scheduler,
    training_snr_db,
)

__all__ = [
    "COLUMNS",
    "DEFAULT_FLOW_SIGMA",
    "DEFAULT_RULE",
    "levels_frame",
    "main",
    "markdown_table",
    "registry_levels",
    "schedule_levels",
]

# FreeInit's own defaults (conf/freeinit/default.yaml has the same): read off the class so that
# the table follows the method if they change.
_FREEINIT_DEFAULTS = inspect.signature(FreeInit.__init__).parameters
DEFAULT_RULE = _FREEINIT_DEFAULTS["renoise_timestep"].default
DEFAULT_FLOW_SIGMA = float(_FREEINIT_DEFAULTS["flow_sigma"].default)

# The table's columns. Non-finite values, by design:
# * last_snr_db, first_snr_db: -inf where no signal is left (zero terminal SNR; flow's sigma = 1);
# * flow_shift, renoise_sigma: NaN on DDPM-type rows; renoise_timestep: NaN on flow rows (the
#   re-noised level is flow_sigma there, not a training timestep).
# renoise_snr_db is finite under "auto" (-inf under "last" on a zero-terminal-SNR schedule).
COLUMNS = (
    "model",
    "scheduler",
    "prediction_type",
    "noising",
    "schedule",
    "zero_terminal_snr",
    "flow_shift",
    "num_train_timesteps",
    "last_timestep",
    "last_snr_db",
    "num_inference_steps",
    "first_timestep",
    "first_snr_db",
    "renoise_rule",
    "renoise_at",
    "renoise_timestep",
    "renoise_sigma",
    "renoise_snr_db",
)


def _schedule_text(scheduler: Any, flow: bool) -> str:
    """The schedule in a few words: betas (and what reshapes them) or the flow shift; spacing."""
    config = scheduler.config
    if flow:
        if config.get("use_dynamic_shifting"):  # LTX-Video: the shift follows the resolution
            parts = [
                f"flow σ, dynamic shift (base {config.get('base_shift'):g}, max "
                f"{config.get('max_shift'):g})"
            ]
        else:
            parts = [f"flow σ, shift {config_flow_shift(config):g}"]
        if config.get("shift_terminal"):
            parts.append(f"terminal σ {config.get('shift_terminal'):g}")
        if config.get("invert_sigmas"):  # Mochi: the scheduler's sigma is 1 - the noise level
            parts.append("inverted sigmas")
    else:
        parts = [
            f"{config.get('beta_schedule')} betas {config.get('beta_start'):g}–"
            f"{config.get('beta_end'):g}"
        ]
        shift = config.get("snr_shift_scale")  # CogVideoX divides the SNR by it
        if shift is not None and float(shift) != 1.0:
            parts.append(f"SNR shift {float(shift):g}")
        if config.get("rescale_betas_zero_snr"):
            parts.append("rescaled to zero terminal SNR")
        if config.get("scale_end") is not None:  # VideoCrafter2's data scale
            parts.append(f"data scale {config.get('scale_start'):g}→{config.get('scale_end'):g}")
    if config.get("timestep_spacing"):
        parts.append(f"{config.get('timestep_spacing')} spacing")
    return ", ".join(parts)


def schedule_levels(
    scheduler: Any,
    num_inference_steps: int,
    *,
    model: str = "",
    rule: int | str = DEFAULT_RULE,
    flow_sigma: float = DEFAULT_FLOW_SIGMA,
) -> dict[str, Any]:
    """One scheduler's row of the table (keys :data:`COLUMNS`); the scheduler is not modified.

    UniPC with flow sigmas starts sampling at sigma = 1 - 1e-6 (diffusers moves it off 1 to keep
    a log finite), so its first-step SNR is a finite -120 dB: no signal in practice.

    Args:
        scheduler: a diffusers scheduler FreeInit supports (see
            :func:`freqlab.schedules.noising_rule`).
        num_inference_steps: the sampling steps the first sampling timestep is for.
        model: the name in the ``model`` column.
        rule: FreeInit's ``renoise_timestep`` (``"auto"``, ``"last"`` or a timestep).
        flow_sigma: FreeInit's ``flow_sigma`` (flow-matching schedulers).

    Returns:
        ``last_snr_db``: the SNR (dB) of the last training timestep (VideoCrafter2's data scale
        included); ``first_snr_db``: at the first timestep of ``set_timesteps(num_inference_steps)``
        (flow: of its first sigma); ``renoise_snr_db``: of FreeInit's re-noised latent.
        ``zero_terminal_snr``: the last timestep's SNR is below
        :data:`freqlab.schedules.ZERO_SNR_DB` (-60 dB; flow paths too, they end at sigma = 1).
    """
    flow = noising_rule(scheduler) == "flow"
    config = scheduler.config
    snr = training_snr_db(scheduler)
    first = schedule_from_scheduler(scheduler, num_inference_steps=num_inference_steps)
    with np.errstate(divide="ignore"):
        first_snr = float(10.0 * np.log10(first.first_signal / first.first_noise))
    timestep = resolve_renoise_timestep(scheduler, rule)
    if flow:
        at, sigma = f"σ = {flow_sigma:g}", float(flow_sigma)
        renoise_timestep = math.nan
    else:
        at, sigma = f"t = {timestep}", math.nan
        renoise_timestep = float(timestep)
    # FlowMatchEuler has no prediction_type: its transformer predicts the flow velocity.
    prediction = config.get("prediction_type") or ("flow_prediction" if flow else "epsilon")
    return dict(
        model=model,
        scheduler=type(scheduler).__name__,
        prediction_type=str(prediction),
        noising=noising_rule(scheduler),
        schedule=_schedule_text(scheduler, flow),
        zero_terminal_snr=bool(snr[-1] < ZERO_SNR_DB),
        flow_shift=config_flow_shift(config) if flow else math.nan,
        num_train_timesteps=len(snr),
        last_timestep=len(snr) - 1,
        last_snr_db=float(snr[-1]),
        num_inference_steps=int(num_inference_steps),
        first_timestep=float(first.first_timestep),
        first_snr_db=first_snr,
        renoise_rule=str(rule),
        renoise_at=at,
        renoise_timestep=renoise_timestep,
        renoise_sigma=sigma,
        renoise_snr_db=renoise_snr_db(scheduler, rule, flow_sigma),
    )


def levels_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Rows of :func:`schedule_levels` as a DataFrame with :data:`COLUMNS`, in that order."""
    frame = pd.DataFrame(list(rows), columns=list(COLUMNS))
    floats = [
        c for c in COLUMNS if c.endswith(("_db", "_sigma", "_shift")) or c.startswith("first_t")
    ]
    return frame.astype({c: "float64" for c in floats + ["renoise_timestep"]})


def registry_levels(
    names: Sequence[str] | None = None,
    *,
    rule: int | str = DEFAULT_RULE,
    flow_sigma: float = DEFAULT_FLOW_SIGMA,
) -> pd.DataFrame:
    """:func:`schedule_levels` for every model of :data:`freqlab.models.MODELS` (or ``names``),
    in registry order: each scheduler built from the entry's scheduler config
    (:func:`freqlab.models.pretrained.build_scheduler`), each first step for the entry's default
    ``num_inference_steps``. No weights are read.

    Raises:
        ValueError: an unknown model name, or a model without a scheduler config or default
            steps (named).
    """
    from freqlab.models import MODELS, get_model_spec
    from freqlab.models.pretrained import build_scheduler

    rows = []
    for name in MODELS if names is None else names:
        spec = get_model_spec(name)
        steps = spec.defaults.get("num_inference_steps")
        if not spec.scheduler or steps is None:
            raise ValueError(f"{name}: the registry entry has no scheduler config or default steps")
        scheduler = build_scheduler(spec.scheduler)
        rows.append(schedule_levels(scheduler, steps, model=name, rule=rule, flow_sigma=flow_sigma))
    return levels_frame(rows)


def _db(value: float) -> str:
    # One minus sign for numbers and -inf alike (U+2212).
    text = f"{value:.1f}" if math.isfinite(value) else ("-∞" if value < 0 else str(value))
    return text.replace("-", "−")


def _timestep(value: float) -> str:
    return f"{value:g}"


def markdown_table(frame: pd.DataFrame) -> str:
    """The table as GitHub markdown: one line per model, SNRs in dB to 0.1 (−∞: no signal)."""
    header = (
        "| model | scheduler | prediction | schedule | SNR at last t (dB) "
        "| first sampling t: SNR (dB) | re-noise (auto) | its SNR (dB) |"
    )
    lines = [header, "|" + "---|" * 4 + "---:|" * 2 + "---|---:|"]
    for row in frame.itertuples(index=False):
        lines.append(
            f"| {row.model} | {row.scheduler} | {row.prediction_type} | {row.schedule} "
            f"| t = {row.last_timestep}: {_db(row.last_snr_db)} "
            f"| t = {_timestep(row.first_timestep)}: {_db(row.first_snr_db)} "
            f"| {row.renoise_at} | {_db(row.renoise_snr_db)} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m experiments.snr_levels [--models a b] [--output file.parquet]``: print the
    registry's table as markdown."""
    parser = argparse.ArgumentParser(
        prog="python -m experiments.snr_levels",
        description="Each registry model's SNR at its last training timestep and first sampling "
        "timestep, and where FreeInit re-noises (no weights needed).",
    )
    parser.add_argument("--models", nargs="+", help="registry names (default: all)")
    parser.add_argument(
        "--renoise-timestep", default=str(DEFAULT_RULE), help="auto | last | an int timestep"
    )
    parser.add_argument("--flow-sigma", type=float, default=DEFAULT_FLOW_SIGMA)
    parser.add_argument("--output", type=Path, help="also write the table (.parquet or .csv)")
    args = parser.parse_args(argv)
    rule: int | str = args.renoise_timestep
    if isinstance(rule, str) and rule.isdigit():
        rule = int(rule)
    try:
        frame = registry_levels(args.models, rule=rule, flow_sigma=args.flow_sigma)
    except ValueError as err:
        parser.error(str(err))
    print(markdown_table(frame))
    if args.output is not None:
        from experiments.cache import write_atomic

        if args.output.suffix == ".csv":
            write_atomic(args.output, frame.to_csv(index=False).encode())
        else:
            import io

            buffer = io.BytesIO()
            frame.to_parquet(buffer, index=False)
            write_atomic(args.output, buffer.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
