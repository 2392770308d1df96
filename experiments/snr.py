"""The SNR-by-frequency job (``task=snr``): FreeInit's training-inference gap for one model.

``python run.py task=snr model=<name> [snr.videos=<folder>]``:

1. videos: the clips of ``snr.videos`` (mp4/avi/gif; unreadable files are skipped and counted), or
   a synthetic set of moving shapes (:func:`freqlab.data.shapes.shape_videos`) when it is null,
   at the model's frame count and resolution;
2. clean latents: the model's VAE, in batches (:func:`freqlab.vae.encode_frames`: image VAEs frame
   by frame; every video DiT's VAE, Wan, CogVideoX, LTX-Video, Mochi and HunyuanVideo 1.5, whole
   clips normalised as its pipeline; the frame count's ``f k + 1`` rule is the model's own size
   rule, checked by :func:`experiments.settings.resolve` before anything loads);
3. per-band SNR over timesteps for each schedule of ``snr.schedules`` (:mod:`freqlab.schedules`)
   and at each schedule's first sampling timestep (:mod:`freqlab.spectrum`);
4. FreeInit's refined initial latents: per-band correlation with the clean latents, pass by pass,
   next to independent Gaussian noise (``snr.correlation``; the ``freeinit`` group's filter);
5. the schedule's levels (:mod:`experiments.snr_levels`): the SNR at the last training timestep
   and at the first sampling timestep, and where FreeInit re-noises under the run's ``freeinit``
   settings (``renoise_timestep``, ``flow_sigma``) with that level's SNR;
6. results into the job directory (:data:`experiments.snr_plots.RESULT_FILES`): parquet tables,
   the band x timestep heatmap, the SNR-against-band plot at the first sampling step, the
   correlation plot (all drawn by :mod:`experiments.snr_plots`), ``job.json``; then W&B (offline
   by default; ``logger=none`` turns it off).

``notebooks/snr_analysis.ipynb`` reads the directory back and draws the figures.
"""

from __future__ import annotations

import io
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from experiments.cache import write_atomic, write_json_atomic
from experiments.settings import (
    ConfigError,
    JobSettings,
    bool_value,
    config_value,
    int_value,
    resolve,
)
from experiments.snr_levels import levels_frame, schedule_levels
from experiments.snr_plots import (
    RESULT_FILES,
    plot_band_correlation,
    plot_first_step,
    plot_snr_heatmap,
    snr_floor_db,
)
from freqlab.data import load_prompts
from freqlab.data.shapes import shape_videos
from freqlab.freeinit import FreeInit
from freqlab.models import load_model
from freqlab.schedules import SCHEDULE_NAMES, compare_schedules
from freqlab.spectrum import (
    LatentSpectrum,
    band_extremes,
    band_table,
    default_timesteps,
    first_step_table,
    freeinit_band_correlation,
    snr_table,
)
from freqlab.vae import encode_frames
from freqlab.video.read import VideoFolder

log = logging.getLogger(__name__)


@dataclass
class SNRSettings:
    """The validated ``snr`` group."""

    videos: Path | None
    num_videos: int
    frame_stride: int | None
    seed: int
    batch_size: int
    normalize_latents: bool
    num_bands: int
    timesteps: list[int] | None
    num_timesteps: int
    schedules: list[str]
    flow_shift: float | None
    progress: bool
    correlation: bool
    num_prompts: int
    num_iters: int


def snr_settings(cfg: DictConfig) -> SNRSettings:
    """Validate the ``snr`` group; every error names its key."""
    if OmegaConf.select(cfg, "snr") is None:
        raise ConfigError("the snr config group is missing: add `- snr: default` to the defaults")
    videos = config_value(cfg, "snr.videos")
    if videos is not None:
        if not isinstance(videos, str) or not videos.strip():
            raise ConfigError(f"snr.videos must be a folder path or null, got {videos!r}")
        videos = Path(videos).expanduser()
        if not videos.is_absolute():
            videos = Path(str(config_value(cfg, "paths.root"))) / videos
    timesteps = config_value(cfg, "snr.timesteps")
    if timesteps is not None:
        timesteps = OmegaConf.to_object(timesteps) if OmegaConf.is_config(timesteps) else timesteps
        if isinstance(timesteps, int) and not isinstance(timesteps, bool):
            timesteps = [timesteps]
        if not isinstance(timesteps, list) or not timesteps:
            raise ConfigError(f"snr.timesteps must be a list of ints or null, got {timesteps!r}")
        if any(isinstance(t, bool) or not isinstance(t, int) or t < 0 for t in timesteps):
            raise ConfigError(f"snr.timesteps must be ints >= 0, got {timesteps!r}")
        timesteps = sorted(set(timesteps))
    schedules = config_value(cfg, "snr.schedules")
    schedules = OmegaConf.to_object(schedules) if OmegaConf.is_config(schedules) else schedules
    if isinstance(schedules, str):
        schedules = [schedules]
    if (
        not isinstance(schedules, list)
        or not schedules
        or any(s not in SCHEDULE_NAMES for s in schedules)
    ):
        raise ConfigError(
            f"snr.schedules must be a non-empty list of {', '.join(SCHEDULE_NAMES)}; "
            f"got {schedules!r}"
        )
    flow_shift = config_value(cfg, "snr.flow_shift")
    if flow_shift is not None and (
        isinstance(flow_shift, bool)
        or not isinstance(flow_shift, (int, float))
        or not math.isfinite(flow_shift)
        or flow_shift <= 0
    ):
        raise ConfigError(f"snr.flow_shift must be a number > 0 or null, got {flow_shift!r}")
    return SNRSettings(
        videos=videos,
        num_videos=int_value(cfg, "snr.num_videos", 1),
        frame_stride=int_value(cfg, "snr.frame_stride", 1, allow_none=True),
        seed=int_value(cfg, "snr.seed", 0),
        batch_size=int_value(cfg, "snr.batch_size", 1),
        normalize_latents=bool_value(cfg, "snr.normalize_latents"),
        num_bands=int_value(cfg, "snr.num_bands", 1),
        timesteps=timesteps,
        num_timesteps=int_value(cfg, "snr.num_timesteps", 1),
        schedules=list(dict.fromkeys(schedules)),
        flow_shift=None if flow_shift is None else float(flow_shift),
        progress=bool_value(cfg, "snr.progress"),
        correlation=bool_value(cfg, "snr.correlation.enabled"),
        num_prompts=int_value(cfg, "snr.correlation.num_prompts", 1),
        num_iters=int_value(cfg, "snr.correlation.num_iters", 1),
    )


# --------------------------------------------------------------------------- steps


def _video_source(
    snr: SNRSettings, settings: JobSettings
) -> tuple[Iterator[torch.Tensor], VideoFolder | None, int]:
    """The clips to encode, the folder reader (None for the synthetic set) and the target count."""
    call = settings.call_kwargs
    size = (call["num_frames"], call["height"], call["width"])
    if snr.videos is None:
        return shape_videos(snr.num_videos, *size, seed=snr.seed), None, snr.num_videos
    folder = VideoFolder(
        snr.videos,
        *size,
        limit=snr.num_videos,
        seed=snr.seed,
        frame_stride=snr.frame_stride,
    )
    log.info("reading %s", folder)
    return (video for _, video in folder), folder, len(folder)


def _encode(
    pipe: Any,
    source: tuple[Iterator[torch.Tensor], VideoFolder | None, int],
    snr: SNRSettings,
    settings: JobSettings,
) -> tuple[LatentSpectrum, pd.DataFrame, tuple[int, ...]]:
    """Encode every readable clip; the spectrum, the per-video table and the latent shape."""
    videos, folder, total = source
    spectrum = LatentSpectrum()
    stats: list[tuple[float, float]] = []
    shape: tuple[int, ...] = ()
    for z in encode_frames(
        pipe.vae,
        videos,
        batch_size=snr.batch_size,
        chunk_size=settings.decode_chunk,
        total=total,
        progress=snr.progress,
    ):
        spectrum.update(z)
        shape = tuple(z.shape[1:])
        stats.extend((float(v.mean()), float(v.std())) for v in z.float())
    if folder is None:
        names = [f"synthetic/{i:04d}" for i in range(len(stats))]
        skipped = []
    else:
        names = [str(p) for p in folder.read]
        skipped = folder.skipped
        if not stats:
            reasons = "; ".join(f"{Path(s.path).name}: {s.reason}" for s in skipped[:3])
            raise ValueError(
                f"snr.videos: none of the {len(skipped)} video files in {str(snr.videos)!r} could "
                f"be read ({reasons})"
            )
        for s in skipped:
            log.warning("skipped unreadable video %s (%s)", s.path, s.reason)
    rows = [
        dict(video=n, status="read", reason=None, latent_mean=m, latent_std=s)
        for n, (m, s) in zip(names, stats, strict=True)
    ] + [
        dict(video=s.path, status="skipped", reason=s.reason, latent_mean=None, latent_std=None)
        for s in skipped
    ]
    table = pd.DataFrame(
        rows, columns=["video", "status", "reason", "latent_mean", "latent_std"]
    ).astype({"latent_mean": "float64", "latent_std": "float64"})
    return spectrum, table, shape


def _correlation(
    cfg: DictConfig, pipe: Any, snr: SNRSettings, settings: JobSettings
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """FreeInit on a few prompts; the per-band correlation table and what was run."""
    prompts = load_prompts(
        config_value(cfg, "dataset.name"),
        path=config_value(cfg, "dataset.path"),
        limit=snr.num_prompts,
    )
    if not prompts:
        raise ValueError("snr.correlation: the dataset group gave no prompts")
    freeinit = FreeInit(**{**settings.freeinit, "num_iters": snr.num_iters})
    seeds = [snr.seed + i for i in range(len(prompts))]
    result = freeinit(
        pipe,
        prompt=[p.text for p in prompts],
        generator=[torch.Generator().manual_seed(s) for s in seeds],
        **settings.call_kwargs,
    )
    frame = freeinit_band_correlation(result, snr.num_bands, seed=snr.seed)
    info = dict(
        prompts=[p.id for p in prompts],
        seeds=seeds,
        freeinit=freeinit.config,
        noising=result.noising,
        unet_calls=result.total_unet_calls,
    )
    return frame, info


# --------------------------------------------------------------------------- outputs


def _json_number(value: float) -> float | str:
    """A float for JSON; -inf/inf/nan as strings (strict JSON has no such numbers)."""
    value = float(value)
    return value if math.isfinite(value) else str(value)


def _levels_summary(frame: pd.DataFrame) -> dict[str, Any]:
    """The one-row levels table as a JSON-ready dict: -inf as a string, NaN (a column that does
    not apply to the schedule's kind) as None."""
    row = frame.iloc[0].to_dict()
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, (bool, np.bool_)):
            out[key] = bool(value)
        elif isinstance(value, (int, np.integer)):
            out[key] = int(value)
        elif isinstance(value, (float, np.floating)):
            out[key] = None if math.isnan(value) else _json_number(value)
        else:
            out[key] = value
    return out


def _extremes(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {
        row.schedule: dict(
            timestep=float(row.timestep),
            lowest_band_db=_json_number(row.lowest_band_db),
            highest_band_db=_json_number(row.highest_band_db),
        )
        for row in band_extremes(frame).itertuples()
    }


def _write_parquet(path: Path, frame: pd.DataFrame) -> None:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    write_atomic(path, buffer.getvalue())


def _write_figure(path: Path, fig: Any) -> None:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    write_atomic(path, buffer.getvalue())


def _json_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with non-finite floats as None: W&B tables are JSON (the parquet keeps -inf)."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_float_dtype(out[column]):
            values = out[column].to_numpy(dtype=np.float64)
            out[column] = pd.Series(
                [float(v) if math.isfinite(v) else None for v in values], dtype=object
            )
    return out


# Groups an snr config carries but this job does not read: a real model's conf/model/<name>.yaml
# picks its natural metrics, and that override needs the group in the task's defaults
# (conf/task/snr.yaml); no metric is computed here.
UNREAD_GROUPS = ("metrics",)


def wandb_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config an snr run records in W&B: every group it reads, none it does not
    (:data:`UNREAD_GROUPS`)."""
    config = OmegaConf.to_container(cfg, resolve=True)
    return {key: value for key, value in config.items() if key not in UNREAD_GROUPS}


def _log_wandb(
    cfg: DictConfig, out_dir: Path, tables: dict[str, pd.DataFrame], summary: dict
) -> None:
    """Log the figures, tables and headline numbers to W&B. Never raises: results are on disk."""
    from experiments.wandb_logger import staging_in, start_run

    run = start_run(
        cfg, out_dir, name=f"snr-{out_dir.name}", config=wandb_config(cfg), job_type="snr"
    )
    if run is None:  # logging off, or W&B unreachable (warned once)
        return
    try:
        import wandb

        with staging_in(run):
            images = {
                key: wandb.Image(str(out_dir / RESULT_FILES[key]))
                for key in ("heatmap", "first_step_plot", "correlation_plot")
                if (out_dir / RESULT_FILES[key]).exists()
            }
            data = {
                f"table/{name}": wandb.Table(dataframe=_json_safe(frame))
                for name, frame in tables.items()
            }
            run.log({**images, **data})
            flat = {
                "videos/read": summary["videos"]["read"],
                "videos/skipped": summary["videos"]["skipped"],
                "latents/std": summary["latents"]["std"],
            }
            for key in (
                "last_snr_db",
                "first_snr_db",
                "renoise_snr_db",
                "renoise_timestep",
                "renoise_sigma",
            ):
                value = summary["levels"][key]
                if isinstance(value, float):  # -inf and not-applicable are left out
                    flat[f"levels/{key}"] = value
            for where in ("last_timestep", "first_step"):
                for name, values in summary[where].items():
                    for key in ("lowest_band_db", "highest_band_db"):
                        if isinstance(values[key], float):  # -inf is left out
                            flat[f"{where}/{name}/{key}"] = values[key]
            run.summary.update(flat)
    except Exception as err:  # noqa: BLE001 - W&B must never fail a finished job
        log.warning("W&B logging failed (%s: %s); results are on disk", type(err).__name__, err)
    finally:
        run.finish()


def run_snr(cfg: DictConfig) -> dict[str, Any]:
    """Run the SNR-by-frequency analysis (see the module docstring); return its summary."""
    settings = resolve(cfg)
    snr = snr_settings(cfg)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    source = _video_source(snr, settings)  # a missing or empty folder fails before loading
    pipe = load_model(settings.model, **settings.load_kwargs)
    spectrum, videos, latent_shape = _encode(pipe, source, snr, settings)
    raw = spectrum
    if snr.normalize_latents:
        spectrum = spectrum.rescaled(1.0 / math.sqrt(spectrum.power))

    steps = settings.call_kwargs["num_inference_steps"]
    schedules, skipped_schedules = compare_schedules(
        pipe.scheduler, snr.schedules, steps, snr.flow_shift
    )
    for name, reason in skipped_schedules.items():
        log.warning("schedule %s skipped: %s", name, reason)
    num_train = schedules[0].num_train_timesteps
    timesteps = snr.timesteps or default_timesteps(num_train, snr.num_timesteps)
    if max(timesteps) >= num_train:
        raise ConfigError(f"snr.timesteps must lie in [0, {num_train - 1}], got {timesteps}")
    tables = dict(
        snr=snr_table(spectrum, schedules, timesteps, snr.num_bands),
        first_step=first_step_table(spectrum, schedules, snr.num_bands),
        bands=band_table(spectrum, snr.num_bands),
        videos=videos,
    )
    # The scheduler the pipeline loaded (model.scheduler overrides included), with the run's own
    # FreeInit re-noising settings: the level a refinement of this run starts from.
    tables["levels"] = levels_frame(
        [
            schedule_levels(
                pipe.scheduler,
                steps,
                model=settings.model,
                rule=settings.freeinit["renoise_timestep"],
                flow_sigma=settings.freeinit["flow_sigma"],
            )
        ]
    )
    levels = _levels_summary(tables["levels"])
    correlation_info: dict[str, Any] | None = None
    if snr.correlation:
        tables["correlation"], correlation_info = _correlation(cfg, pipe, snr, settings)

    for name, frame in tables.items():
        _write_parquet(out_dir / RESULT_FILES[name], frame)
    floor = snr_floor_db(tables["snr"], tables["first_step"])  # -inf alike in both
    _write_figure(out_dir / RESULT_FILES["heatmap"], plot_snr_heatmap(tables["snr"], floor))
    _write_figure(
        out_dir / RESULT_FILES["first_step_plot"],
        plot_first_step(tables["first_step"], floor),
    )
    if "correlation" in tables:
        _write_figure(
            out_dir / RESULT_FILES["correlation_plot"],
            plot_band_correlation(tables["correlation"]),
        )

    skipped = videos[videos.status == "skipped"]
    summary = dict(
        task="snr",
        model=settings.model,
        videos=dict(
            source="synthetic" if snr.videos is None else str(snr.videos),
            requested=snr.num_videos,
            read=int((videos.status == "read").sum()),
            skipped=len(skipped),
            skipped_files=[dict(path=r.video, reason=r.reason) for r in skipped.itertuples()],
            num_frames=settings.call_kwargs["num_frames"],
            height=settings.call_kwargs["height"],
            width=settings.call_kwargs["width"],
            frame_stride=snr.frame_stride,
        ),
        latents=dict(
            shape=list(latent_shape),
            mean=raw.mean,
            std=raw.std,
            rms=math.sqrt(raw.power),
            normalized=snr.normalize_latents,
        ),
        num_bands=snr.num_bands,
        timesteps=dict(count=len(timesteps), min=min(timesteps), max=max(timesteps)),
        schedules={
            s.name: dict(
                kind=s.kind,
                description=s.description,
                first_timestep=s.first_timestep,
                num_inference_steps=s.num_inference_steps,
                signal_last=s.signal[-1],
                noise_last=s.noise[-1],
            )
            for s in schedules
        },
        skipped_schedules=skipped_schedules,
        levels=levels,
        last_timestep=_extremes(tables["snr"][tables["snr"].timestep == max(timesteps)]),
        first_step=_extremes(tables["first_step"]),
        correlation=correlation_info,
        seconds=round(time.perf_counter() - start, 3),
        files={k: v for k, v in RESULT_FILES.items() if (out_dir / v).exists()}
        | {"summary": RESULT_FILES["summary"]},
    )
    write_json_atomic(out_dir / RESULT_FILES["summary"], summary)
    _log_wandb(cfg, out_dir, tables, summary)
    log.info(
        "%s (%s, %s): SNR %s dB at t=%d, %s dB at the first sampling step t=%g; FreeInit "
        "re-noises (%s) to %s, %s dB",
        levels["scheduler"],
        levels["prediction_type"],
        levels["schedule"],
        _fmt(levels["last_snr_db"]),
        levels["last_timestep"],
        _fmt(levels["first_snr_db"]),
        levels["first_timestep"],
        levels["renoise_rule"],
        levels["renoise_at"],
        _fmt(levels["renoise_snr_db"]),
    )
    for name, values in summary["last_timestep"].items():
        log.info(
            "t=%g %-13s lowest band %s dB, highest band %s dB",
            values["timestep"],
            name,
            _fmt(values["lowest_band_db"]),
            _fmt(values["highest_band_db"]),
        )
    log.info(
        "%d videos read, %d skipped; wrote %s in %.1f s",
        summary["videos"]["read"],
        summary["videos"]["skipped"],
        out_dir,
        summary["seconds"],
    )
    return summary


def _fmt(value: float | str) -> str:
    return f"{value:.1f}" if isinstance(value, float) else value
