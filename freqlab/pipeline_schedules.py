"""The inference schedule a pipeline sets, reproduced before it runs.

Most pipelines call ``scheduler.set_timesteps(num_inference_steps)``; LTX-Video, Mochi and
HunyuanVideo 1.5 pass their own sigmas inside ``__call__`` (:data:`OWN_SCHEDULES`, diffusers 0.42).
A method that must know where the pipeline will be at step ``i`` before it runs (FreqPrior's stop
and re-noising, the runner's step accounting) gets a copy of the scheduler set the pipeline's way
(:func:`inference_schedule`), and can check the live scheduler against it at the first step
(:func:`same_schedule`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from freqlab.checks import check_int
from freqlab.sampling import UnsupportedPipelineError

__all__ = ["MOCHI_THRESHOLD_NOISE", "OWN_SCHEDULES", "inference_schedule", "same_schedule"]

# Pipelines that pass their own schedule to ``scheduler.set_timesteps`` inside ``__call__``
# (diffusers 0.42), instead of ``set_timesteps(num_inference_steps)``: the keyword arguments they
# pass, from the step count, the scheduler and the latent grid ``(T, h, w)``. Computed with the
# pipelines' own helpers where diffusers exposes them, so that the copy is set exactly as the
# pipeline sets its scheduler (``_MidCapture`` checks it at the first step of every pass).


def _ltx_schedule(scheduler: Any, steps: int, latent_size: tuple[int, ...] | None) -> dict:
    # LTXPipeline: sigmas linspace(1, 1/S, S), dynamically shifted by mu, linear in the latent
    # token count T*h*w (patch 1: one token per latent position).
    from diffusers.pipelines.ltx.pipeline_ltx import calculate_shift

    if latent_size is None:
        raise UnsupportedPipelineError(
            "LTXPipeline's schedule depends on its latent token count (its dynamic shift mu): "
            "pass latent_size=(T, h, w)"
        )
    config = scheduler.config
    mu = calculate_shift(
        math.prod(latent_size),
        config.get("base_image_seq_len", 256),
        config.get("max_image_seq_len", 4096),
        config.get("base_shift", 0.5),
        config.get("max_shift", 1.15),
    )
    return dict(sigmas=np.linspace(1.0, 1 / steps, steps), mu=mu)


# MochiPipeline.__call__'s threshold_noise (a local constant there).
MOCHI_THRESHOLD_NOISE = 0.025


def _mochi_schedule(scheduler: Any, steps: int, latent_size: tuple[int, ...] | None) -> dict:
    # MochiPipeline: genmo's linear-quadratic noise levels (its scheduler inverts them).
    from diffusers.pipelines.mochi.pipeline_mochi import linear_quadratic_schedule

    return dict(sigmas=np.array(linear_quadratic_schedule(steps, MOCHI_THRESHOLD_NOISE)))


def _hunyuan15_schedule(scheduler: Any, steps: int, latent_size: tuple[int, ...] | None) -> dict:
    # HunyuanVideo15Pipeline: linspace(1, 0, S + 1) without its 0, then the config's shift.
    return dict(sigmas=np.linspace(1.0, 0.0, steps + 1)[:-1])


OWN_SCHEDULES: dict[str, Callable[..., dict]] = {
    "LTXPipeline": _ltx_schedule,
    "MochiPipeline": _mochi_schedule,
    "HunyuanVideo15Pipeline": _hunyuan15_schedule,
}


def _own_schedule(pipeline: Any) -> tuple[str, Callable[..., dict]] | None:
    """``(class name, schedule rule)`` of a pipeline (an instance, a class or a class name) that
    sets its own schedule, by its class or a base class; None for the others."""
    if pipeline is None:
        return None
    if isinstance(pipeline, str):
        names = [pipeline]
    else:
        cls = pipeline if isinstance(pipeline, type) else type(pipeline)
        names = [c.__name__ for c in cls.__mro__]
    for name in names:
        if name in OWN_SCHEDULES:
            return name, OWN_SCHEDULES[name]
    return None


def inference_schedule(
    scheduler: Any,
    num_inference_steps: int,
    pipeline: Any = None,
    latent_size: tuple[int, ...] | None = None,
) -> Any:
    """A copy of ``scheduler`` set to ``num_inference_steps`` as ``pipeline`` sets its own: its
    ``timesteps`` / ``sigmas`` locate the stop and re-noise z_mid (also on resume, when the
    pipeline's scheduler has not run yet). ``scheduler`` is not changed.

    Args:
        scheduler: the pipeline's scheduler.
        num_inference_steps: the call's step count.
        pipeline: the pipeline (instance, class or class name). Those of :data:`OWN_SCHEDULES`
            (LTX-Video, Mochi, HunyuanVideo 1.5) pass their own sigmas to ``set_timesteps``
            and are reproduced; any other (or None) is ``set_timesteps(num_inference_steps)``,
            what every other pipeline calls.
        latent_size: the latent grid ``(T, h, w)``; LTXPipeline's dynamic shift needs it.

    Raises:
        UnsupportedPipelineError: when the schedule cannot be set without the pipeline's own
            arguments (a dynamically shifted scheduler needs ``mu``) or without ``latent_size``.
    """
    check_int("num_inference_steps", num_inference_steps, 1)
    probe = copy.deepcopy(scheduler)
    own = _own_schedule(pipeline)
    try:
        if own is None:
            probe.set_timesteps(num_inference_steps)
        else:
            probe.set_timesteps(**own[1](scheduler, num_inference_steps, latent_size))
    except UnsupportedPipelineError:
        raise
    except Exception as err:  # a scheduler needing pipeline-computed arguments (e.g. mu)
        name = type(scheduler).__name__
        raise UnsupportedPipelineError(
            f"cannot list the timesteps of {name} at num_inference_steps={num_inference_steps}"
            + (f" as {own[0]} sets them" if own else "")
            + f": {err}"
            + ("" if own else " (pass the pipeline if it sets its own schedule)")
        ) from None
    return probe


def same_schedule(live: Any, expected: Any) -> bool:
    """Whether the pipeline's scheduler (``live``, set by the pipeline) runs the schedule
    ``expected`` lists: the same timesteps and, where it has them, sigmas (on the CPU; a float32
    tolerance for device arithmetic, far below any two schedules' difference)."""
    for name in ("timesteps", "sigmas"):
        a, b = getattr(live, name, None), getattr(expected, name, None)
        if a is None and b is None:
            continue
        if a is None or b is None:
            return False
        a = torch.as_tensor(a).detach().to("cpu", torch.float64)
        b = torch.as_tensor(b).detach().to("cpu", torch.float64)
        if a.shape != b.shape or not torch.allclose(a, b, rtol=1e-6, atol=1e-6):
            return False
    return True
