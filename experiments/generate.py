"""The generation job: prompts x seeds -> sampler passes -> videos -> metrics -> results file.

The sampler is FreeInit (one plain pass when it is off) or FreqPrior; FreeU and FreeNoise act on
the model around it. Every pass is kept, so iteration 0 (the plain baseline) and every refinement are paired on
the same seed at no extra cost. Passes and metric values are cached separately, each under a key of
what determines it (:mod:`experiments.cache`), and the job does only what is missing
(:mod:`experiments.plan`): a finished sweep re-runs with no UNet call, a killed one resumes at the
first missing pass of each video, a ``num_iters`` sweep samples each pass once, and a metric added
to a finished sweep is computed from the cached latents. The job writes ``results.parquet`` (a row
per prompt, seed and iteration, video paths relative to the job folder), ``job.json`` and
``videos/`` into its output directory.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from omegaconf import DictConfig
from tqdm.auto import tqdm

from evaluation import results
from experiments import wandb_logger
from experiments.cache import (
    MetricCache,
    PassCache,
    metric_key,
    to_parquet_bytes,
    write_atomic,
    write_json_atomic,
)
from experiments.fvd_job import check_fvd, job_fvd
from experiments.metric_suite import MetricSuite
from experiments.plan import (
    SampleWork,
    generation_batches,
    metric_identities,
    plan_samples,
    record_speed,
    sample_folder_name,
    survey,
)
from experiments.settings import JobSettings, resolve
from freqlab.atomic import atomic_path
from freqlab.freenoise import FreeNoise
from freqlab.freeu import FreeU
from freqlab.models import load_model
from freqlab.sampling import denoisers
from freqlab.vae import decode_latents
from freqlab.video.write import save_video

log = logging.getLogger(__name__)


def _config_columns(settings: JobSettings, dataset: str) -> dict[str, Any]:
    """The config values every result row carries, flat, for grouping in reports: the columns
    of :data:`evaluation.results.GROUPS`, each filled from its concept's settings."""
    return results.config_row(
        run=dict(model=settings.model, dataset=dataset),
        freeinit=settings.freeinit,
        freqprior=settings.freqprior,
        freeu=settings.freeu,
        bytheway=settings.bytheway,
        freenoise=settings.freenoise,
        freelong=settings.freelong,
        sampling=dict(settings.call_kwargs, dtype=settings.dtype),
    )


def _video_name(fps: int) -> str:
    return f"video_fps{fps}.mp4"


def _comparison_name(fps: int) -> str:
    return f"vs_pass0_fps{fps}.gif"


class _UNetTimer:
    """Counts the denoisers' forward calls and the wall time spent inside them (both experts
    of a two-expert pipeline: :func:`freqlab.sampling.denoisers`)."""

    def __init__(self, modules: list[torch.nn.Module]) -> None:
        self.modules, self.calls, self.seconds = modules, 0, 0.0
        self._handles: list[Any] = []
        self._start = 0.0

    def __enter__(self) -> _UNetTimer:
        for module in self.modules:
            self._handles += [
                module.register_forward_pre_hook(self._before),
                module.register_forward_hook(self._after),
            ]
        return self

    def _before(self, module: torch.nn.Module, args: Any) -> None:
        self._start = time.perf_counter()

    def _after(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        self.calls += 1
        self.seconds += time.perf_counter() - self._start

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []


class _Job:
    """The state of one generation job while it runs (see :func:`run_generate`)."""

    def __init__(self, cfg: DictConfig, settings: JobSettings, suite: MetricSuite) -> None:
        self.cfg, self.settings, self.suite = cfg, settings, suite
        self.passes = PassCache(cfg.paths.cache_dir)
        self.metric_cache = MetricCache(cfg.paths.cache_dir)
        self.identities = metric_identities(suite)
        self.metric_keys = {c: metric_key(i) for c, i in self.identities.items()}
        self.fps = int(cfg.fps)
        self.save_videos = bool(cfg.save_videos)
        self.sampler = settings.make_sampler()
        self.steps = self.sampler.steps(settings.call_kwargs["num_inference_steps"])
        self.pipe: Any = None
        self.methods = ExitStack()  # FreeU and FreeNoise on the model, undone when the job ends
        self.counts = dict(passes_generated=0, metric_values_computed=0, unet_calls=0)
        self.timings = dict(unet=0.0, decode=0.0, metrics=0.0, videos=0.0)

    # ----------------------------------------------------------------- what is left to do

    def needs_decoding(self, w: SampleWork, k: int) -> bool:
        """Whether pass k of ``w`` must be decoded: it is not sampled yet, or a metric value or
        a video of it is missing."""
        record = w.records[k]
        if record is None or len(w.metrics[k]) < len(self.identities):
            return True
        if not self.save_videos:
            return False
        if not record.has(_video_name(self.fps)):
            return True
        last = w.records[-1]
        gif_missing = last is None or not last.has(_comparison_name(self.fps))
        return w.num_passes > 1 and gif_missing and k in (0, w.num_passes - 1)

    # ----------------------------------------------------------------- sampling

    def _load_pipe(self) -> None:
        if self.pipe is None:
            s = self.settings
            self.pipe = load_model(s.model, **s.load_kwargs)
            if s.freeu:
                self.methods.enter_context(FreeU(**s.freeu).apply(self.pipe.unet))
            if s.freenoise:
                self.methods.enter_context(FreeNoise(**s.freenoise).apply(self.pipe))
            if s.bytheway:
                from freqlab.bytheway import ByTheWay

                self.methods.enter_context(ByTheWay(**s.bytheway).apply(self.pipe))
            if s.freelong:
                from freqlab.freelong import FreeLong

                self.methods.enter_context(FreeLong(**s.freelong).apply(self.pipe))

    def sample(self, batch: list[SampleWork], bar: tqdm) -> None:
        """Sample the missing passes of ``batch`` (all start at the same pass), storing each
        pass as soon as it is done."""
        start = batch[0].start
        previous = None
        # What pass `start` continues from: FreeInit re-noises the clean latent of the pass
        # before, FreqPrior the latent at its mid_step.
        name = "mid_latents" if self.settings.sampler == "freqprior" else "latents"
        if start > 0:
            previous = torch.stack([self.passes.latents(w.records[start - 1], name) for w in batch])

        def store(k: int, latents: torch.Tensor, mid: torch.Tensor | None = None) -> None:
            for i, w in enumerate(batch):
                s = w.sample
                w.records[k] = self.passes.store(
                    s.pass_keys[k],
                    latents[i],
                    None if mid is None else mid[i],
                    parent=s.pass_keys[k - 1] if k > 0 else None,
                    pass_index=k,
                    steps=self.steps[k],
                    prompt=s.prompt.text,
                    seed=s.seed,
                    model=self.settings.model,
                )
                w.metrics[k] = {}
            self.counts["passes_generated"] += len(batch)
            bar.update(len(batch))

        result = self.sampler(
            self.pipe,
            # A per-frame prompt ({frame: text}) is sampled alone (generation_batches).
            prompt=batch[0].sample.prompt.keyframes or [w.sample.prompt.text for w in batch],
            generator=[torch.Generator().manual_seed(w.sample.seed) for w in batch],
            start_pass=start,
            previous=previous,
            on_pass=store,
            **self.settings.call_kwargs,
        )
        self.counts["unet_calls"] += result.total_unet_calls
        for w in batch:
            w.start = w.num_passes

    # ----------------------------------------------------------------- decode, measure, encode

    def finish(self, batch: list[SampleWork]) -> None:
        """Compute the missing metric values and videos of ``batch``'s passes."""
        last_videos: dict[int, torch.Tensor] = {}
        pass0: dict[int, torch.Tensor] = {}
        for k in range(batch[0].num_passes):
            todo = [i for i, w in enumerate(batch) if self.needs_decoding(w, k)]
            if not todo:
                continue
            latents = torch.stack([self.passes.latents(batch[i].records[k]) for i in todo])
            t0 = time.perf_counter()
            videos = decode_latents(self.pipe, latents, self.settings.decode_chunk).cpu()
            self.timings["decode"] += time.perf_counter() - t0
            self._measure([batch[i] for i in todo], k, videos)
            if self.save_videos:
                t0 = time.perf_counter()
                for j, i in enumerate(todo):
                    self._encode(batch[i], k, videos[j], pass0, last_videos, i)
                self.timings["videos"] += time.perf_counter() - t0

    def _measure(self, group: list[SampleWork], k: int, videos: torch.Tensor) -> None:
        """Compute pass k's missing metric values of ``group`` (videos ``(B, T, C, H, W)``)."""
        t0 = time.perf_counter()
        by_missing: dict[tuple[str, ...], list[int]] = {}
        for j, w in enumerate(group):
            missing = tuple(c for c in self.identities if c not in w.metrics[k])
            if missing:
                by_missing.setdefault(missing, []).append(j)
        for columns, rows in by_missing.items():
            names = [self.identities[c]["metric"] for c in columns]
            suite = MetricSuite(
                names,
                self.suite.encoder,
                self.suite.weights,
                self.suite.batch_size,
                self.suite.device,
                self.suite.fps,
            )
            scores = suite(videos[rows], [group[j].sample.prompt.text for j in rows])
            for column in columns:
                for j, value in zip(rows, scores[column].tolist(), strict=True):
                    w = group[j]
                    w.metrics[k][column] = float(value)
                    self.metric_cache.put(
                        w.sample.pass_keys[k],
                        self.metric_keys[column],
                        value,
                        self.identities[column],
                    )
                    self.counts["metric_values_computed"] += 1
        self.timings["metrics"] += time.perf_counter() - t0

    def _encode(
        self,
        w: SampleWork,
        k: int,
        video: torch.Tensor,
        pass0: dict[int, torch.Tensor],
        last_videos: dict[int, torch.Tensor],
        i: int,
    ) -> None:
        """Write pass k's MP4 (and, at the last pass, the GIF beside pass 0) if missing."""
        record = w.records[k]
        assert record is not None
        name = _video_name(self.fps)
        if not record.has(name):
            save_video(video, record.path(name), self.fps)
            self.passes.add_file(record, name)
        last = w.num_passes - 1
        if last == 0:
            return
        if k == 0:
            pass0[i] = video
        if k == last:
            last_videos[i] = video
            gif = _comparison_name(self.fps)
            if not record.has(gif):
                first = pass0.get(i)
                if first is None:  # pass 0 needed no decoding of its own: decode it now
                    z = self.passes.latents(w.records[0])[None]
                    first = decode_latents(self.pipe, z, self.settings.decode_chunk)[0].cpu()
                save_video(torch.cat([first, video], dim=-1), record.path(gif), self.fps)
                self.passes.add_file(record, gif)


def _link(src: Path, dst: Path) -> None:
    """Hard-link ``src`` at ``dst`` (a copy across file systems), replacing ``dst`` atomically."""
    with atomic_path(dst) as tmp:
        try:
            os.link(src, tmp)
        except OSError:
            tmp.write_bytes(src.read_bytes())


def _job_videos(job: _Job, works: list[SampleWork], out_dir: Path) -> list[dict[str, Any]]:
    """Link each sample's videos into ``out_dir/videos/<sample>/``; per sample, the paths
    relative to ``out_dir``: ``{"passes": [mp4 per pass], "comparison": gif or None}``."""
    paths = []
    for i, w in enumerate(works):
        if not job.save_videos:
            paths.append({"passes": [None] * w.num_passes, "comparison": None})
            continue
        folder = Path("videos") / sample_folder_name(i, w.sample.prompt.text, w.sample.seed)
        mp4s = []
        for k, record in enumerate(w.records):
            assert record is not None
            rel = folder / f"iter{k}.mp4"
            _link(record.path(_video_name(job.fps)), out_dir / rel)
            mp4s.append(rel.as_posix())
        comparison = None
        last = w.num_passes - 1
        if last > 0:
            rel = folder / f"iter0_vs_iter{last}.gif"
            _link(w.records[last].path(_comparison_name(job.fps)), out_dir / rel)
            comparison = rel.as_posix()
        paths.append({"passes": mp4s, "comparison": comparison})
    return paths


def results_frame(
    works: list[SampleWork],
    columns: dict[str, Any],
    steps: list[int],
    videos: list[dict[str, Any]],
    unet_steps: list[int] | None = None,
) -> pd.DataFrame:
    """One row per (prompt, seed, iteration), with the config columns and relative video paths.

    ``steps``: the denoising steps of each pass; ``unet_steps``: UNet steps per video of a run
    ending at each pass (default: ``steps`` summed, FreeInit's cost)."""
    if unet_steps is None:
        unet_steps = [sum(steps[: k + 1]) for k in range(len(steps))]
    rows = []
    for w, paths in zip(works, videos, strict=True):
        s = w.sample
        for k in range(w.num_passes):
            rows.append(
                dict(
                    sample_key=s.key,
                    pass_key=s.pass_keys[k],
                    prompt_id=s.prompt.id,
                    prompt=s.prompt.text,
                    seed=s.seed,
                    is_final=k == w.num_passes - 1,
                    **columns,
                    iteration=k,
                    steps=steps[k],
                    unet_steps=unet_steps[k],
                    **w.metrics[k],
                    video_path=paths["passes"][k],
                    comparison_path=paths["comparison"],
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


def _batches(works: list[SampleWork], size: int) -> list[list[SampleWork]]:
    return [works[i : i + size] for i in range(0, len(works), size)]


def run_generate(cfg: DictConfig) -> dict[str, Any]:
    """Run one generation job (see the module docstring); return its summary."""
    settings = resolve(cfg)
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    suite = MetricSuite.from_config(cfg.metrics, device=settings.device, fps=int(cfg.fps))
    call = settings.call_kwargs
    suite.check_model(settings.model)  # the testbed judge's metrics read testbed videos only
    suite.check_video_size(call["num_frames"], call["height"], call["width"])
    fvd_options = check_fvd(cfg, settings)  # FVD against a reference folder (a set metric)
    samples, dataset = plan_samples(cfg, settings)
    job = _Job(cfg, settings, suite)
    resumable = settings.sampler_config["rng"] == "per_sample"
    works = survey(samples, job.passes, job.metric_cache, job.identities, resumable)
    batches = generation_batches(works, settings.batch_size)
    passes_total = sum(w.num_passes for w in works)
    passes_cached = sum(w.start for w in works)
    to_finish = [w for w in works if any(job.needs_decoding(w, k) for k in range(w.num_passes))]
    log.info(
        "%d samples (%d prompts x %d seeds), %d passes: %d cached, %d to generate with %s",
        len(samples),
        len(samples) // len(settings.seeds),
        len(settings.seeds),
        passes_total,
        passes_cached,
        passes_total - passes_cached,
        settings.model,
    )

    start = time.perf_counter()
    generated_samples = sum(len(b) for b in batches)
    if batches or to_finish:
        job._load_pipe()
        timer = _UNetTimer(denoisers(job.pipe))
        try:
            with timer:
                bar = tqdm(
                    total=passes_total - passes_cached, desc="sampling", unit="pass", delay=0.5
                )
                gen_start = time.perf_counter()
                for batch in batches:
                    job.sample(batch, bar)
                bar.close()
                sampling_seconds = time.perf_counter() - gen_start
            pending = [
                w for w in works if any(job.needs_decoding(w, k) for k in range(w.num_passes))
            ]
            bar = tqdm(total=len(pending), desc="decode+measure", unit="video", delay=0.5)
            for batch in _batches(pending, settings.batch_size):
                job.finish(batch)
                bar.update(len(batch))
            bar.close()
        finally:
            job.methods.close()
        job.timings["unet"] = timer.seconds
        if timer.calls:
            record_speed(Path(cfg.paths.cache_dir), settings, sampling_seconds, timer.calls)
    job.timings["generation"] = time.perf_counter() - start
    fvd = None
    if fvd_options is not None:
        t0 = time.perf_counter()
        try:
            fvd = job_fvd(job, works, fvd_options)
        finally:
            job.methods.close()
        job.timings["fvd"] = time.perf_counter() - t0

    videos = _job_videos(job, works, out_dir)
    frame = results_frame(
        works, _config_columns(settings, dataset), job.steps, videos, settings.unet_steps()
    )
    write_atomic(out_dir / "results.parquet", to_parquet_bytes(frame))
    values_total = passes_total * len(job.identities)
    summary = dict(
        samples=len(samples),
        generated=generated_samples,
        cached=len(samples) - generated_samples,
        passes=passes_total,
        passes_generated=job.counts["passes_generated"],
        passes_cached=passes_cached,
        unet_calls=job.counts["unet_calls"],
        metric_values_computed=job.counts["metric_values_computed"],
        metric_values_cached=values_total - job.counts["metric_values_computed"],
        seconds=round(time.perf_counter() - start, 3),
        timings={k: round(v, 3) for k, v in job.timings.items()},
        metrics=suite.describe(),
        fvd=fvd,
        results=str(out_dir / "results.parquet"),
        video_root=".",
        cache_dir=str(Path(cfg.paths.cache_dir)),
        settings=dict(
            model=settings.model,
            dtype=settings.dtype,
            call=settings.call_kwargs,
            freeinit=settings.freeinit,
            freqprior=settings.freqprior,
            freeu=settings.freeu,
            freenoise=settings.freenoise,
            seeds=settings.seeds,
        ),
    )
    write_json_atomic(out_dir / "job.json", summary)
    if cfg.get("report", False):
        _write_report(out_dir)
    wandb_logger.log_job(cfg, frame, summary)
    log.info(
        "wrote %s (%d rows); %d passes generated, %d UNet calls, %d metric values computed in "
        "%.1f s",
        summary["results"],
        len(frame),
        summary["passes_generated"],
        summary["unet_calls"],
        summary["metric_values_computed"],
        summary["seconds"],
    )
    return summary
