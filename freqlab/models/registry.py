"""Loading the registered models: ``load_model(name, ...)`` is the one entry point.

The models and their documented defaults are in :mod:`freqlab.models.specs` (:data:`MODELS`,
:class:`ModelSpec`, :func:`get_model_spec`, re-exported here). Tiny models (``tiny_*``) are built
in code with seeded random weights; real models are read from the Hugging Face hub (revision
pinnable) or local diffusers-format directories, see :mod:`freqlab.models.weights`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch

from freqlab.hub import hub_cache_dir, hub_offline
from freqlab.models.pretrained import (
    apply_memory_options,
    build_pipeline,
    build_scheduler,
    parse_dtype,
    resolve_device,
    resolve_dtype,
)
from freqlab.models.specs import MODELS, ModelSpec, get_model_spec
from freqlab.models.weights import (
    MissingSource,
    ResolvedSource,
    WeightsNotFoundError,
    resolve_source,
    source_fingerprint,
    weights_not_found,
)

__all__ = [
    "MODELS",
    "ModelSpec",
    "get_model_spec",
    "load_model",
    "locate_weights",
    "weights_fingerprint",
]


def load_model(
    name: str,
    *,
    path: str | os.PathLike | None = None,
    revision: str | None = None,
    device: str | torch.device = "auto",
    dtype: torch.dtype | str | None = None,
    seed: int = 0,
    variant: str | None = None,
    scheduler: Mapping[str, Any] | None = None,
    local_files_only: bool = False,
    cache_dir: str | os.PathLike | None = None,
    vae_slicing: bool = False,
    vae_tiling: bool = False,
    cpu_offload: bool | str | None = None,
    **sources: str | os.PathLike | None,
) -> Any:
    """Build the pipeline registered as ``name``.

    Args:
        name: a key of :data:`MODELS`, e.g. ``"tiny_animatediff"`` or ``"modelscope"``.
        path: a local copy (diffusers-format directory) or hub id ``org/name[@revision]`` of the
            model's primary source: the pipeline (modelscope, zeroscope, wan), the base model
            (animatediff*) or the UNet (videocrafter2).
        revision: branch, tag or commit of the primary source on the hub.
        device: where to put the pipeline; ``"auto"`` (default, as the runner's ``device=auto``):
            CUDA when available, else CPU.
        dtype: weight dtype (``torch.float16``, ``"bf16"``, ...). Default: the model's half
            precision (fp16; bf16 for Wan) on CUDA, float32 on CPU; tiny models: float32.
        seed: seed of the random weights (tiny models).
        variant: weight file variant to read, e.g. ``"fp16"`` (``*.fp16.safetensors``).
        scheduler: overrides of the model's scheduler config (``spec.scheduler``), e.g.
            ``{"timestep_spacing": "trailing"}``, or ``{"_class_name": "DPMSolverMultistepScheduler"}``.
        local_files_only: never download (as ``HF_HUB_OFFLINE=1``); read the cache or local paths.
        cache_dir: the Hugging Face cache (default ``HF_HUB_CACHE`` / ``HF_HOME/hub``).
        vae_slicing, vae_tiling: VAE memory savers.
        cpu_offload: ``"model"`` / ``True`` or ``"sequential"`` CPU offload (needs CUDA).
        **sources: per-role overrides, local path or hub id: ``base=``/``adapter=``
            (animatediff*), ``unet=``/``base=`` (videocrafter2), ``pipeline=`` (others).

    Raises:
        ValueError: unknown model, role or option.
        WeightsNotFoundError: (a ValueError) weights are neither local nor cached, and could not
            be downloaded; the message names the hub ids, the ``hf download`` command and the
            ``path=`` / ``model.path=`` options.
    """
    spec = get_model_spec(name)
    target = resolve_device(device)
    if spec.pretrained:
        overrides = _source_overrides(spec, path, sources)
        resolved = _resolve_sources(spec, overrides, revision, variant, local_files_only, cache_dir)
        pipe = build_pipeline(
            spec.pipeline,
            {role: src.components for role, src in spec.sources.items()},
            resolved,
            build_scheduler(spec.scheduler, scheduler),
            resolve_dtype(dtype, target, spec.accelerator_dtype),
            variant,
            spec.pipeline_kwargs,
            spec.fill_config,
        )
    else:
        given = dict(path=path, revision=revision, variant=variant, **sources)
        unused = [key for key, value in given.items() if value is not None]
        if unused:
            raise ValueError(
                f"{name} is built in code with random weights; {', '.join(unused)} do not apply"
            )
        pipe = _build_tiny(spec, seed, dtype, scheduler)
    return apply_memory_options(
        pipe, target, vae_slicing=vae_slicing, vae_tiling=vae_tiling, cpu_offload=cpu_offload
    )


def locate_weights(
    name: str,
    *,
    path: str | os.PathLike | None = None,
    revision: str | None = None,
    variant: str | None = None,
    local_files_only: bool = False,
    cache_dir: str | os.PathLike | None = None,
    **sources: str | os.PathLike | None,
) -> dict[str, ResolvedSource]:
    """Find (or, online, download) every source of a real model without loading anything.

    Takes :func:`load_model`'s source arguments. Returns role -> resolved local files (empty for
    models built in code). Raises the same :class:`WeightsNotFoundError` as :func:`load_model`,
    so a job can fail before it loads or samples anything.
    """
    spec = get_model_spec(name)
    if not spec.pretrained:
        return {}
    overrides = _source_overrides(spec, path, sources)
    return _resolve_sources(spec, overrides, revision, variant, local_files_only, cache_dir)


def weights_fingerprint(
    name: str,
    *,
    path: str | os.PathLike | None = None,
    revision: str | None = None,
    variant: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    **sources: str | os.PathLike | None,
) -> str | None:
    """What identifies the weights ``load_model(name, ...)`` would read, offline (no network,
    nothing loaded): per source, the resolved hub commit or a digest of the local copy's file
    names, sizes and modification times (:func:`~freqlab.models.weights.source_fingerprint`);
    shipped weights: their digest. None when a source is not on this machine, or for models
    with seeded random weights (their seed identifies them)."""
    spec = get_model_spec(name)
    if not spec.pretrained:
        return spec.weights_digest() if spec.weights_digest is not None else None
    try:
        resolved = locate_weights(
            name,
            path=path,
            revision=revision,
            variant=variant,
            local_files_only=True,
            cache_dir=cache_dir,
            **sources,
        )
    except WeightsNotFoundError:
        return None
    return ",".join(f"{role}={source_fingerprint(resolved[role])}" for role in spec.sources)


def _source_overrides(
    spec: ModelSpec, path: str | os.PathLike | None, sources: Mapping[str, Any]
) -> dict[str, Any]:
    """``path=`` and the per-role keyword arguments, checked against the model's roles."""
    unknown = [key for key in sources if key not in spec.sources]
    if unknown:
        roles = ", ".join(spec.sources)
        raise ValueError(
            f"load_model({spec.name!r}) got unexpected argument(s) {', '.join(unknown)}; "
            f"its sources are: {roles} (and path= for {spec.primary})"
        )
    overrides = {role: value for role, value in sources.items() if value is not None}
    if path is not None:
        if spec.primary in overrides:
            raise ValueError(f"pass either path= or {spec.primary}= for {spec.name!r}, not both")
        overrides[spec.primary] = path
    return overrides


def _resolve_sources(
    spec: ModelSpec,
    overrides: Mapping[str, Any],
    revision: str | None,
    variant: str | None,
    local_files_only: bool,
    cache_dir: str | os.PathLike | None,
) -> dict[str, ResolvedSource]:
    """Every source of ``spec`` as local files; one WeightsNotFoundError for all that are not."""
    offline = "local_files_only=True" if local_files_only else None
    offline = offline or ("HF_HUB_OFFLINE=1" if hub_offline() else None)
    cache = hub_cache_dir(cache_dir)
    resolved, problems = {}, []
    for role, source in spec.sources.items():
        rev = revision if role == spec.primary else None
        result = resolve_source(role, source, overrides.get(role), rev, variant, cache, offline)
        if isinstance(result, MissingSource):
            problems.append(result)
        else:
            resolved[role] = result
    if problems:
        raise weights_not_found(spec.name, problems, list(spec.sources), spec.primary) from None
    return resolved


def _build_tiny(
    spec: ModelSpec,
    seed: int,
    dtype: torch.dtype | str | None,
    scheduler: Mapping[str, Any] | None,
) -> Any:
    """A tiny model, built in code (no weights to locate)."""
    pipe = spec.build(seed=seed)
    if scheduler:
        # On top of the scheduler as built: the testbed's follows its weights (prediction_type).
        built = {k: v for k, v in pipe.scheduler.config.items() if not k.startswith("_")}
        pipe.scheduler = build_scheduler({**spec.scheduler, **built}, scheduler)
    if dtype is not None:
        pipe = pipe.to(dtype=parse_dtype(dtype))
    return pipe
