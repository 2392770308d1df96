"""The generation job: prompts x seeds -> FreeInit passes -> videos -> metrics -> results file.

Every FreeInit pass is kept, so iteration 0 (the plain baseline) and every refinement are paired on
the same seed at no extra cost. Each sample is cached under a hash of everything that determines
it (:mod:`experiments.cache`), so re-running a finished sweep makes no UNet call and a killed
sweep resumes with the missing samples only. The job writes ``results.parquet`` (a row per
prompt, seed and iteration) and ``job.json`` into its output directory.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from omegaconf import DictConfig
from safetensors.torch import save_file
from tqdm.auto import tqdm

from experiments import wandb_logger
from experiments.cache import SampleCache, sample_key, write_atomic, write_json_atomic
from experiments.metrics import MetricSuite
from experiments.settings import JobSettings, config_value, resolve
from freqlab.data import Prompt, load_prompts
from freqlab.freeinit import FreeInit
from freqlab.freeu import FreeU
from freqlab.models import load_model
from freqlab.video_io import save_video

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sample:
    """One video to generate: a prompt, a seed, and the cache key of its result."""

    prompt: Prompt
    seed: int
    key: str


def _batches(items: Sequence[Sample], size: int) -> Iterator[list[Sample]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _slug(text: str, max_words: int = 8) -> str:
    return "-".join(re.sub(r"[^a-z0-9 ]+", "", text.lower()).split()[:max_words]) or "prompt"


CONFIG_COLUMNS = frozenset(
    "model dataset method d_s d_t order num_iters fast_sampling variance_preserving rng freeu b1 b2 "
    "s1 s2 freeu_variant freeu_stages num_frames height width num_inference_steps guidance_scale "
    "dtype".split()
)


def _config_columns(settings: JobSettings, dataset: str) -> dict[str, Any]:
    """The config values every result row carries, flat, for grouping in reports."""
    fi, fu = settings.freeinit, settings.freeu or {}
    columns = dict(
        model=settings.model,
        dataset=dataset,
        method=fi["method"],
        d_s=fi["d_s"],
        d_t=fi["d_t"],
        order=fi["order"],
        num_iters=fi["num_iters"],
        fast_sampling=fi["fast_sampling"],
        variance_preserving=fi["variance_preserving"],
        rng=fi["rng"],
        freeu=settings.freeu is not None,
        b1=fu.get("b1"),
        b2=fu.get("b2"),
        s1=fu.get("s1"),
        s2=fu.get("s2"),
        freeu_variant=fu.get("variant"),
        freeu_stages=fu.get("stages"),
        num_frames=settings.call_kwargs["num_frames"],
        height=settings.call_kwargs["height"],
        width=settings.call_kwargs["width"],
        num_inference_steps=settings.call_kwargs["num_inference_steps"],
        guidance_scale=settings.call_kwargs["guidance_scale"],
        dtype=settings.dtype,
    )
    assert set(columns) == CONFIG_COLUMNS
    return columns


def _plan(cfg: DictConfig, settings: JobSettings) -> tuple[list[Sample], str]:
    d = cfg.dataset
    prompts = load_prompts(
        d.name,
        path=config_value(cfg, "dataset.path"),
        limit=d.limit,
        shard=d.shard,
        num_shards=d.num_shards,
        caption_seed=d.caption_seed,
    )
    samples = [
        Sample(p, seed, sample_key({**settings.identity, "prompt": p.text, "seed": seed}))
        for p in prompts
        for seed in settings.seeds
    ]
    return samples, d.name


def _save_sample(
    cache: SampleCache,
    sample: Sample,
    latents: list[torch.Tensor],
    videos: list[torch.Tensor],
    metrics: list[dict[str, float]],
    steps: list[int],
    fps: int,
    save_videos: bool,
) -> dict[str, Any]:
    """Write one sample's artifacts, then its record (last, atomically); return the record.

    ``latents[k]`` is ``(C, T, h, w)`` and ``videos[k]`` ``(T, C, H, W)`` for pass k.
    """
    out = cache.dir(sample.key)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {f"pass{k}": z.detach().float().cpu().contiguous() for k, z in enumerate(latents)}
    save_file(tensors, str(out / "latents.safetensors"))  # small; rewritten whole on retry
    files = ["latents.safetensors"]
    last = len(latents) - 1
    if save_videos:
        for k, video in enumerate(videos):
            files.append(save_video(video, out / f"iter{k}.mp4", fps).name)
        side_by_side = torch.cat([videos[0], videos[last]], dim=-1)
        files.append(save_video(side_by_side, out / f"iter0_vs_iter{last}.gif", fps).name)
    rows = [
        dict(
            iteration=k, steps=steps[k], **metrics[k], video=f"iter{k}.mp4" if save_videos else None
        )
        for k in range(len(latents))
    ]
    record = dict(
        key=sample.key,
        prompt_id=sample.prompt.id,
        prompt=sample.prompt.text,
        seed=sample.seed,
        rows=rows,
        files=files,
        created=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    cache.store(sample.key, record)
    return record


def _link_videos(cache: SampleCache, records: list[dict[str, Any]], out_dir: Path) -> None:
    """Hard-link (or copy) each sample's comparison GIF into ``out_dir/videos`` for browsing."""
    target = out_dir / "videos"
    for i, rec in enumerate(records):
        gifs = [f for f in rec["files"] if f.endswith(".gif")]
        for gif in gifs:
            src = cache.dir(rec["key"]) / gif
            dst = target / f"{i:04d}_{_slug(rec['prompt'])}_seed{rec['seed']}_{gif}"
            target.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                try:
                    os.link(src, dst)
                except OSError:
                    write_atomic(dst, src.read_bytes())


def results_frame(
    records: list[dict[str, Any]], columns: dict[str, Any], cache: SampleCache
) -> pd.DataFrame:
    """One row per (prompt, seed, iteration), with the config columns and absolute video paths."""
    rows = []
    for rec in records:
        num_passes = len(rec["rows"])
        for row in rec["rows"]:
            video = row.get("video")
            rows.append(
                dict(
                    sample_key=rec["key"],
                    prompt_id=rec["prompt_id"],
                    prompt=rec["prompt"],
                    seed=rec["seed"],
                    is_final=row["iteration"] == num_passes - 1,
                    **columns,
                    **{k: v for k, v in row.items() if k != "video"},
                    video_path=str(cache.dir(rec["key"]) / video) if video else None,
                )
            )
    return pd.DataFrame(rows)


def _write_report(out_dir: Path) -> None:
    """This job's tables, plots and report.html under ``out_dir/report`` (sweeps: run
    ``python -m evaluation.report <sweep dir>`` to merge every job)."""
    from evaluation.report import build_report, write_report

    try:
        report = build_report(out_dir, exclude=[out_dir / "report"])
        write_report(report, out_dir / "report")
    except (ValueError, FileNotFoundError) as err:  # e.g. a single pass: nothing to compare
        log.warning("no report for this job: %s", err)


def run_generate(cfg: DictConfig) -> dict[str, Any]:
    """Run one generation job (see the module docstring); return its summary."""
    settings = resolve(cfg)
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = SampleCache(cfg.paths.cache_dir)
    suite = MetricSuite.from_config(cfg.metrics, device=settings.device)
    samples, dataset = _plan(cfg, settings)
    records: dict[str, dict[str, Any]] = {}
    todo = []
    for s in samples:
        rec = cache.load(s.key)
        if rec is None:
            todo.append(s)
        else:
            records[s.key] = rec
    log.info(
        "%d samples (%d prompts x %d seeds): %d cached, %d to generate with %s",
        len(samples),
        len(samples) // len(settings.seeds),
        len(settings.seeds),
        len(samples) - len(todo),
        len(todo),
        settings.model,
    )

    unet_calls, start = 0, time.perf_counter()
    if todo:
        pipe = load_model(settings.model, **settings.load_kwargs)
        freeinit = FreeInit(**settings.freeinit)
        freeu = FreeU(**settings.freeu).apply(pipe.unet) if settings.freeu else None
        bar = tqdm(total=len(todo), desc="sampling", unit="video", dynamic_ncols=True)
        try:
            for batch in _batches(todo, settings.batch_size):
                result = freeinit(
                    pipe,
                    prompt=[s.prompt.text for s in batch],
                    generator=[torch.Generator().manual_seed(s.seed) for s in batch],
                    **settings.call_kwargs,
                )
                unet_calls += result.total_unet_calls
                passes = range(result.num_passes)
                videos = [result.decode(pipe, k, settings.decode_chunk) for k in passes]
                prompts = [s.prompt.text for s in batch]
                scores = [suite(videos[k], prompts) for k in passes]
                for i, s in enumerate(batch):
                    records[s.key] = _save_sample(
                        cache,
                        s,
                        [z[i] for z in result.latents],
                        [v[i] for v in videos],
                        [
                            {name: float(vals[i]) for name, vals in scores[k].items()}
                            for k in passes
                        ],
                        result.steps,
                        int(cfg.fps),
                        bool(cfg.save_videos),
                    )
                bar.update(len(batch))
        finally:
            bar.close()
            if freeu is not None:
                freeu.remove()

    ordered = [records[s.key] for s in samples]
    frame = results_frame(ordered, _config_columns(settings, dataset), cache)
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    write_atomic(out_dir / "results.parquet", buffer.getvalue())
    if cfg.save_videos:
        _link_videos(cache, ordered, out_dir)
    summary = dict(
        samples=len(samples),
        generated=len(todo),
        cached=len(samples) - len(todo),
        unet_calls=unet_calls,
        seconds=round(time.perf_counter() - start, 3),
        metrics=suite.describe(),
        results=str(out_dir / "results.parquet"),
        cache_dir=str(cache.root),
        settings=dict(
            model=settings.model,
            call=settings.call_kwargs,
            freeinit=settings.freeinit,
            freeu=settings.freeu,
            seeds=settings.seeds,
        ),
    )
    write_json_atomic(out_dir / "job.json", summary)
    if cfg.get("report", False):
        _write_report(out_dir)
    wandb_logger.log_job(cfg, frame, summary)
    log.info(
        "wrote %s (%d rows); %d UNet calls in %.1f s",
        summary["results"],
        len(frame),
        unet_calls,
        summary["seconds"],
    )
    return summary
