"""What a generation job will do, worked out from the caches before anything runs.

:func:`survey` finds, for every (prompt, seed) sample of a job, the passes already cached (the
longest cached prefix of its pass chain), the metric values already computed and the videos
already encoded; :func:`generation_batches` groups the missing passes into the batches the job
will sample. The generation job (:mod:`experiments.generate`) runs exactly this plan, and
``python run.py task=plan ...`` (:func:`run_plan`) prints it, for a single job or a whole ``-m``
sweep, without loading a model: jobs, samples, UNet passes and calls needed and already cached,
metric values to compute, and a time estimate from this machine's measured seconds per UNet call
(recorded by earlier generation jobs of the same model and size).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from evaluation.encoders import PIXEL
from experiments.cache import (
    MetricCache,
    PassCache,
    PassRecord,
    content_key,
    metric_key,
    pass_keys,
    sample_key,
    write_json_atomic,
)
from experiments.metric_suite import METRICS, MetricSuite
from experiments.settings import ConfigError, JobSettings, config_value, resolve
from freqlab.data import Prompt, load_prompts
from freqlab.models.specs import get_model_spec

log = logging.getLogger(__name__)

__all__ = [
    "Sample",
    "SampleWork",
    "generation_batches",
    "metric_identities",
    "plan_samples",
    "run_plan",
    "sample_folder_name",
    "survey",
]

# Sampler settings that never change a pass's result by themselves: num_iters and fast_sampling
# act only through each pass's step count, which is keyed separately; FreqPrior's
# save_intermediate only decides whether a pass runs on after mid_step (the runner's always do).
_NOT_REFINEMENT = ("num_iters", "fast_sampling", "save_intermediate")
# Keys of the identity that are sampler settings (the refinement, keyed per pass).
_SAMPLERS = ("freeinit", "freqprior")


@dataclass(frozen=True)
class Sample:
    """One video of a job: a prompt, a seed, its row key and the cache key of each pass."""

    prompt: Prompt
    seed: int
    key: str
    pass_keys: tuple[str, ...]


@dataclass
class SampleWork:
    """What is cached and what is missing for one sample.

    Attributes:
        records: the verified cached record of each pass of the cached prefix, None after it.
        start: the first pass to sample (``len(records)`` when every pass is cached).
        metrics: per pass, metric column -> cached value (missing columns must be computed).
    """

    sample: Sample
    records: list[PassRecord | None]
    start: int
    metrics: list[dict[str, float]] = field(default_factory=list)

    @property
    def num_passes(self) -> int:
        return len(self.records)


def sample_folder_name(index: int, prompt: str, seed: int) -> str:
    """A bounded, file-system-safe folder name for a sample: ``0003_a-red-circle-..-<hash>_seed0``.

    At most 40 characters of the prompt's words, then 8 hex digits of its SHA-1, so any prompt
    (300-character words, slashes, non-Latin scripts) gives a short and unique name.
    """
    words = re.sub(r"[^a-z0-9 ]+", " ", prompt.lower()).split()
    slug = "-".join(words)[:40].strip("-") or "prompt"
    digest = hashlib.sha1(prompt.encode()).hexdigest()[:8]
    return f"{index:04d}_{slug}-{digest}_seed{seed}"


def _pass_identities(settings: JobSettings) -> tuple[dict, dict]:
    """(base, refine): what determines pass 0 besides prompt, seed and steps; what turns pass
    k - 1 into pass k besides its steps.

    FreeInit's pass 0 is plain sampling, shared by every filter. FreqPrior's pass 0 is plain
    sampling too, but its record also holds the latent at ``mid_step`` that pass 1 re-noises, so
    its key names that step; its refinements are keyed apart from FreeInit's by ``sampler``.
    """
    base = {k: v for k, v in settings.identity.items() if k not in _SAMPLERS}
    base["call"] = {k: v for k, v in base["call"].items() if k != "num_inference_steps"}
    refine = {k: v for k, v in settings.sampler_config.items() if k not in _NOT_REFINEMENT}
    if settings.sampler == "freqprior":
        base["capture_mid_step"] = settings.freqprior["mid_step"]
        refine["sampler"] = "freqprior"
    return base, refine


def plan_samples(cfg: DictConfig, settings: JobSettings) -> tuple[list[Sample], str]:
    """The job's samples (prompts x seeds, in order) with their keys, and the dataset name."""
    d = cfg.dataset
    prompts = load_prompts(
        d.name,
        path=config_value(cfg, "dataset.path"),
        limit=d.limit,
        shard=d.shard,
        num_shards=d.num_shards,
        caption_seed=d.caption_seed,
    )
    _check_keyframes(prompts, settings)
    base, refine = _pass_identities(settings)
    steps = settings.make_sampler().steps(settings.call_kwargs["num_inference_steps"])
    samples = [
        Sample(
            p,
            seed,
            sample_key({**settings.identity, "prompt": p.text, "seed": seed}),
            tuple(pass_keys({**base, "prompt": p.text, "seed": seed}, refine, steps)),
        )
        for p in prompts
        for seed in settings.seeds
    ]
    return samples, d.name


def _check_keyframes(prompts: list[Prompt], settings: JobSettings) -> None:
    """Per-frame prompts (a custom file's ``0: ... | 32: ...`` lines) need FreeNoise on an
    AnimateDiff (SD 1.5) pipeline, and keyframes inside the video: refused before any model
    loads, naming the prompt."""
    for p in prompts:
        frames = p.keyframes
        if frames is None:
            continue
        where = f"dataset.path: prompt {p.id} ({p.text!r}) gives per-frame prompts"
        if settings.freenoise is None:
            raise ConfigError(f"{where}, which need freenoise.enabled=true (freenoise=default)")
        spec = get_model_spec(settings.model)
        if spec.family != "animatediff" or spec.pipeline == "AnimateDiffSDXLPipeline":
            raise ConfigError(
                f"{where}, which need an AnimateDiff pipeline (FreeNoise's multi-prompt); "
                f"model {settings.model} has none"
            )
        num_frames = settings.call_kwargs["num_frames"]
        if max(frames) >= num_frames:
            raise ConfigError(
                f"{where}: keyframe {max(frames)} is not a frame of a {num_frames}-frame video "
                "(model.num_frames)"
            )


def _weights_fingerprint(encoder: str, weights: str | None, missing_ok: bool) -> str | None:
    """What identifies an encoder's weights: the resolved file's name, size and mtime.

    ``missing_ok``: weights not on this machine give ``"missing"`` instead of an error (a plan
    made without them counts those metric values as still to compute).
    """
    from evaluation.encoders import resolve_encoder_weights

    return _fingerprint(lambda: resolve_encoder_weights(encoder, weights), missing_ok)


def _fingerprint(resolve: Any, missing_ok: bool) -> str | None:
    """:func:`_weights_fingerprint` of whatever ``resolve()`` finds (a ``WeightsSource``)."""
    from freqlab.hub import WeightsNotFoundError

    try:
        source = resolve()
    except WeightsNotFoundError:
        if missing_ok:
            return "missing"
        raise
    if source.path is None:
        return str(source)
    stat = Path(source.path).stat()
    return f"{source}:{stat.st_size}:{stat.st_mtime_ns}"


def metric_identities(suite: MetricSuite, missing_ok: bool = False) -> dict[str, dict[str, Any]]:
    """Result column -> the identity its cached values are keyed by (``missing_ok``: see
    :func:`_weights_fingerprint`)."""
    out = {}
    for column, about in suite.describe().items():
        encoder, model = about["encoder"], about.get("model")
        named = encoder is not None and encoder != PIXEL
        identity = dict(
            column=column,
            metric=about["metric"],
            encoder=encoder,
            weights=_weights_fingerprint(encoder, about["weights"], missing_ok) if named else None,
        )
        if model is not None:  # a metric's own network: its weights file identifies it
            resolve = functools.partial(suite.resolve_model, about["metric"])
            identity["weights"] = _fingerprint(resolve, missing_ok)
        if METRICS[about["metric"]].testbed_only:
            # The shipped judge reads these: a retrained judge must not reuse old values.
            from freqlab.testbed.judge import judge_digest

            identity["judge"] = judge_digest()
        out[column] = identity
    return out


def survey(
    samples: list[Sample],
    passes: PassCache,
    metric_cache: MetricCache,
    metrics: dict[str, dict[str, Any]],
    resumable: bool = True,
) -> list[SampleWork]:
    """Look every sample's passes and metric values up in the caches (no model).

    ``resumable=False`` (the samplers' ``rng="diffusers"``, whose passes share one generator
    stream): a video with any missing pass is sampled again from pass 0.
    """
    keys = {column: metric_key(identity) for column, identity in metrics.items()}
    works = []
    for s in samples:
        records: list[PassRecord | None] = []
        for key in s.pass_keys:
            record = passes.load(key)
            if record is None:
                break
            records.append(record)
        start = len(records)
        if not resumable and start < len(s.pass_keys):
            records, start = [], 0
        records += [None] * (len(s.pass_keys) - start)
        values = []
        for k, key in enumerate(s.pass_keys):
            found = {}
            if k < start:
                for column, mkey in keys.items():
                    value = metric_cache.get(key, mkey)
                    if value is not None:
                        found[column] = value
            values.append(found)
        works.append(SampleWork(s, records, start, values))
    return works


def generation_batches(works: list[SampleWork], batch_size: int) -> list[list[SampleWork]]:
    """The sampling batches: samples with missing passes, grouped by the pass they start at."""
    # Per-frame prompts go to the pipeline as one {frame: text} dict: one video per call, after
    # the batches of plain prompts starting at the same pass.
    todo = sorted(
        (w for w in works if w.start < w.num_passes),
        key=lambda w: (w.start, w.sample.prompt.keyframes is not None),
    )
    batches: list[list[SampleWork]] = []
    for w in todo:
        alone = w.sample.prompt.keyframes is not None
        last = batches[-1] if batches else None
        if (
            last is not None
            and not alone
            and last[0].start == w.start
            and last[0].sample.prompt.keyframes is None
            and len(last) < batch_size
        ):
            batches[-1].append(w)
        else:
            batches.append([w])
    return batches


def unet_calls_of(batches: list[list[SampleWork]], steps: list[int]) -> int:
    """UNet forward calls the batches will make: one per denoising step per batch (the
    pipelines batch both CFG halves into one call)."""
    return sum(sum(steps[b[0].start :]) for b in batches)


# --------------------------------------------------------------------------- measured speed


def speed_key(settings: JobSettings) -> str:
    """What a UNet call's duration depends on: model, weights, size, FreeU, device, batch."""
    identity = {k: v for k, v in settings.identity.items() if k not in _SAMPLERS}
    identity["call"] = {
        k: v for k, v in identity["call"].items() if k not in ("num_inference_steps",)
    }
    return content_key({**identity, "batch_size": settings.batch_size})


def _speed_path(cache_dir: Path, settings: JobSettings) -> Path:
    return Path(cache_dir) / "speed" / f"{speed_key(settings)}.json"


def record_speed(cache_dir: Path, settings: JobSettings, seconds: float, calls: int) -> None:
    """Remember this machine's seconds per UNet call for the job's model and size."""
    if calls > 0:
        write_json_atomic(
            _speed_path(cache_dir, settings),
            dict(model=settings.model, seconds_per_call=seconds / calls, calls=calls),
        )


def measured_speed(cache_dir: Path, settings: JobSettings) -> float | None:
    """Seconds per UNet call measured by an earlier job, or None."""
    try:
        data = json.loads(_speed_path(cache_dir, settings).read_text())
        return float(data["seconds_per_call"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


# --------------------------------------------------------------------------- task=plan


def job_plan(cfg: DictConfig, exclude: set[str], exclude_values: set[str]) -> dict[str, Any]:
    """The plan of one job; passes in ``exclude`` and metric values (``"<pass key>/<metric
    key>"``) in ``exclude_values``, planned by earlier jobs of the sweep, count as cached."""
    settings = resolve(cfg)
    suite = MetricSuite.from_config(cfg.metrics, device=settings.device, fps=int(cfg.fps))
    samples, dataset = plan_samples(cfg, settings)
    cache_dir = Path(cfg.paths.cache_dir)
    identities = metric_identities(suite, missing_ok=True)
    resumable = settings.sampler_config["rng"] == "per_sample"
    works = survey(samples, PassCache(cache_dir), MetricCache(cache_dir), identities, resumable)
    for w in works:  # a pass an earlier job of the sweep makes is cached by the time this runs
        while w.start < w.num_passes and w.sample.pass_keys[w.start] in exclude:
            w.start += 1
    steps = settings.make_sampler().steps(settings.call_kwargs["num_inference_steps"])
    batches = generation_batches(works, settings.batch_size)
    calls = unet_calls_of(batches, steps)
    new = [w.sample.pass_keys[k] for w in works for k in range(w.start, w.num_passes)]
    total = sum(w.num_passes for w in works)
    mkeys = {column: metric_key(identity) for column, identity in identities.items()}
    values = [
        f"{w.sample.pass_keys[k]}/{mkeys[column]}"
        for w in works
        for k, found in enumerate(w.metrics)
        for column in identities
        if column not in found
    ]
    values = [v for v in values if v not in exclude_values]
    speed = measured_speed(cache_dir, settings)
    return dict(
        model=settings.model,
        dataset=dataset,
        samples=len(samples),
        passes=total,
        passes_cached=total - len(new),
        passes_to_generate=len(new),
        unet_calls=calls,
        metric_values=total * len(identities),
        metric_values_to_compute=len(values),
        seconds_per_unet_call=speed,
        estimated_unet_seconds=None if speed is None else round(calls * speed, 1),
        new_pass_keys=new,
        new_metric_values=values,
    )


def _earlier_plans(out_dir: Path) -> list[dict[str, Any]]:
    """Plans written by the earlier jobs of the same ``-m`` sweep (sibling job folders)."""
    if not out_dir.name.isdigit() or not out_dir.parent.is_dir():
        return []
    plans = []
    for sibling in sorted(out_dir.parent.iterdir()):
        if sibling.name.isdigit() and int(sibling.name) < int(out_dir.name):
            try:
                plans.append(json.loads((sibling / "plan.json").read_text()))
            except (FileNotFoundError, json.JSONDecodeError):
                continue
    return plans


def _describe(plan: dict[str, Any]) -> str:
    estimate = (
        f"~{plan['estimated_unet_seconds']} s of UNet time "
        f"({plan['seconds_per_unet_call']:.3g} s/call measured here)"
        if plan["estimated_unet_seconds"] is not None
        else "no time estimate (no job of this model and size has run on this machine)"
    )
    return (
        f"{plan['samples']} samples, {plan['passes']} passes: {plan['passes_cached']} cached, "
        f"{plan['passes_to_generate']} to generate with {plan['unet_calls']} UNet calls; "
        f"metric values: {plan['metric_values'] - plan['metric_values_to_compute']} cached, "
        f"{plan['metric_values_to_compute']} to compute; {estimate}"
    )


def run_plan(cfg: DictConfig) -> dict[str, Any]:
    """``task=plan``: print what the generate job(s) with this config would do; run nothing."""
    out_dir = Path(cfg.paths.output_dir)
    earlier = _earlier_plans(out_dir)
    exclude = {key for p in earlier for key in p["new_pass_keys"]}
    exclude_values = {key for p in earlier for key in p["new_metric_values"]}
    plan = job_plan(cfg, exclude, exclude_values)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / "plan.json", plan)
    job = f"job {out_dir.name}" if out_dir.name.isdigit() else "job"
    print(f"plan, {job} ({plan['model']} on {plan['dataset']}): {_describe(plan)}")
    if earlier:
        everything = [*earlier, plan]
        total = {
            key: sum(p[key] for p in everything)
            for key in (
                "samples",
                "passes",
                "passes_cached",
                "passes_to_generate",
                "unet_calls",
                "metric_values",
                "metric_values_to_compute",
            )
        }
        known = all(p["estimated_unet_seconds"] is not None for p in everything)
        total["estimated_unet_seconds"] = (
            round(sum(p["estimated_unet_seconds"] for p in everything), 1) if known else None
        )
        total["seconds_per_unet_call"] = plan["seconds_per_unet_call"] if known else None
        print(f"plan, sweep so far ({len(everything)} jobs): {_describe(total)}")
    return plan
