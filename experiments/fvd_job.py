"""FVD of a generation job: every iteration's videos against a reference folder.

FVD compares two sets of videos, so it has no per-video value and no place in
``results.parquet``: with ``metrics.fvd.reference=<folder of videos>``, a job decodes each
iteration's videos (all samples, cached passes included), takes their I3D features
(:func:`evaluation.metrics.fvd.i3d_features`) and writes, per iteration, the FVD against the
folder's statistics (cached by folder digest under ``paths.cache_dir/fvd``) into ``job.json``
(``"fvd"``), with the numbers of videos on each side. The report prints it per setting and warns
below 2,048 videos a side (FVD is biased upward with fewer).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from experiments.settings import ConfigError, JobSettings

__all__ = ["check_fvd", "fvd_options", "job_fvd"]

log = logging.getLogger(__name__)
COLUMN = "fvd[i3d_k400]"


def fvd_options(cfg: DictConfig) -> dict[str, Any] | None:
    """``metrics.fvd`` (reference folder, I3D weights, reference limit), or None when unset."""
    reference = OmegaConf.select(cfg, "metrics.fvd.reference")
    if reference is None:
        return None
    return dict(
        reference=str(reference),
        weights=OmegaConf.select(cfg, "metrics.fvd.weights"),
        limit=OmegaConf.select(cfg, "metrics.fvd.limit"),
    )


def check_fvd(cfg: DictConfig, settings: JobSettings) -> dict[str, Any] | None:
    """Validate ``metrics.fvd`` before any model loads: the folder, the clip length, the I3D
    weights (one message naming the key). Returns :func:`fvd_options`."""
    from evaluation.i3d import resolve_i3d_weights
    from evaluation.metrics.fvd import FVD_NUM_FRAMES

    options = fvd_options(cfg)
    if options is None:
        return None
    if not Path(options["reference"]).is_dir():
        raise ConfigError(
            f"metrics.fvd.reference must be a folder of videos, got {options['reference']!r}"
        )
    frames = settings.call_kwargs["num_frames"]
    if frames < FVD_NUM_FRAMES:
        raise ConfigError(
            f"metrics.fvd.reference: FVD compares {FVD_NUM_FRAMES}-frame clips, but "
            f"model.num_frames={frames}"
        )
    limit = options["limit"]
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 2):
        raise ConfigError(f"metrics.fvd.limit must be null or an int >= 2, got {limit!r}")
    resolve_i3d_weights(options["weights"], argument="metrics.fvd.weights")  # missing: one error
    return options


def job_fvd(job: Any, works: list[Any], options: dict[str, Any]) -> dict[str, Any]:
    """FVD of every iteration of the job's samples against ``options["reference"]``.

    Args:
        job: the generation job (its pipeline decodes, its caches hold the passes).
        works: the job's samples with their cached passes.
        options: :func:`fvd_options`.

    Returns:
        ``{"column", "reference", "reference_videos", "iterations": [{"iteration", "fvd",
        "videos"}]}``, what ``job.json`` holds under ``"fvd"``.
    """
    from evaluation.metrics.fvd import (
        FeatureStats,
        FVDSampleSizeWarning,
        fvd_from_stats,
        i3d_features,
        reference_stats,
    )
    from freqlab.vae import decode_latents

    device = job.settings.device
    reference = reference_stats(
        options["reference"],
        weights=options["weights"],
        cache_dir=Path(job.cfg.paths.cache_dir) / "fvd",
        limit=options["limit"],
        device=device,
    )
    job._load_pipe()
    out: list[dict[str, Any]] = []
    for k in range(max(w.num_passes for w in works)):
        with_k = [w for w in works if k < w.num_passes and w.records[k] is not None]
        features = []
        for start in range(0, len(with_k), job.settings.batch_size):
            batch = with_k[start : start + job.settings.batch_size]
            latents = torch.stack([job.passes.latents(w.records[k]) for w in batch])
            videos = decode_latents(job.pipe, latents, job.settings.decode_chunk).cpu()
            features.append(i3d_features(videos, weights=options["weights"], device=device))
        stats = FeatureStats.from_features(torch.cat(features))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FVDSampleSizeWarning)  # the report says it once
            value = fvd_from_stats(stats, reference) if stats.count >= 2 else float("nan")
        out.append(dict(iteration=k, fvd=float(value), videos=int(stats.count)))
        log.info(
            "FVD at iteration %d: %.2f (%d videos vs %d)", k, value, stats.count, reference.count
        )
    return dict(
        column=COLUMN,
        reference=options["reference"],
        reference_videos=int(reference.count),
        iterations=out,
    )
