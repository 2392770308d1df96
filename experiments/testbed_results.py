"""The README's testbed results, re-runnable: ``python -m experiments.testbed_results --docs docs``.

Every method freqlab has, on the testbed (``model=testbed dataset=shapes``, 48 held-out prompts x
2 seeds by default), each job run through the generate runner in this process (composed with
Hydra's compose API, as ``python run.py <overrides>``):

1. FreeInit sweeps: gaussian and butterworth at d0 = 0.25, ``num_iters = refinements + 1``
   (iteration 0 is the plain sample, 1-5 the refinements).
2. The method zoo (``experiment=method_zoo``, arms ``+zoo=<arm>``): plain, FreeInit, FreqPrior,
   FreeU, ByTheWay, FreeInit + FreeU, FreeInit + ByTheWay, FreqPrior + ByTheWay (FreeInit and
   FreqPrior 3 passes, Butterworth n = 4, d0 0.25; FreeU and ByTheWay at the testbed's settings).
   The zoo's FreeInit is the butterworth sweep's passes 1-2 (the same cache entries).
3. Every job twice: ``metrics.encoder=pixel`` (the pixel metrics and the judge's
   ``testbed_accuracy`` / ``testbed_all4``, ``metrics=testbed``), then
   ``metrics.encoder=testbed_judge`` (``dino_consistency[testbed_judge]`` etc.: the judge's
   frame features). The second pass samples nothing: passes are cached by what determines them,
   metric values by metric and encoder, so it decodes the cached latents and computes the judge
   features only (checked: a second pass that generates a pass is reported).
4. The table (:mod:`experiments.testbed_report`): one row per method and iteration (plain
   sampling's means; every other row the paired change vs plain sampling of the same prompt and
   seed, percentile-bootstrap 95% CI, ``*`` when it excludes 0), columns n, UNet steps per video
   (all passes), Δ testbed_accuracy, Δ testbed_all4, Δ dino_consistency[testbed_judge],
   Δ dino_consistency[pixel], Δ motion. Printed and written to ``<out>/testbed_results.md``; every
   metric (temporal_flicker, subject/background consistency too) in ``testbed_results.csv``.
5. Figures: ``testbed_freeinit.png`` (change vs iteration per method), ``testbed_zoo.png``
   (each method's last pass: change in motion against the other columns),
   ``testbed_samples.png`` (the same four held-out prompts, seed 0, for every method: one row
   per method, frames across, decoded from the cached latents the table measured).
6. FreeInit's SNR-by-frequency analysis (``task=snr``) on 32 clips of the testbed's training data
   (``testbed_snr.png``), unless ``--skip-snr``.

At start it prints what the full run will do (jobs, passes to sample, UNet calls, metric values)
and an estimate of its UNet time from this machine's measured seconds per call. With ``--docs
DIR`` the table and figures are copied to DIR. Samples and metric values are cached
(``paths.cache_dir``): a re-run is cheap, and retrained weights change the cache keys.

Options: ``--prompts N`` (1-48) and ``--seeds N``; ``--refinements N`` (FreeInit iterations after
the plain one, 5); ``--steps N`` (DDIM steps, the model's 25 by default; fewer for quick runs);
``--out DIR`` (``outputs/testbed_results``); ``--docs DIR``; ``--cache-dir DIR`` (the runner's
``cache/``); ``--threads N`` (torch threads, 2); ``--batch-size N`` (16); ``--figure-prompts N``
(4); ``--resamples N`` (bootstrap resamples, 10000); ``--skip-snr``; ``--skip-zoo`` /
``--skip-freeinit`` (run one part only: the table then has that part's rows).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, open_dict

from evaluation.results import load_sweep
from experiments import testbed_report as report
from freqlab.atomic import atomic_path, write_atomic

ROOT = Path(__file__).resolve().parents[1]
FILTERS = ("gaussian", "butterworth")
REFINEMENTS = 5  # FreeInit iterations after the plain sample (num_iters = REFINEMENTS + 1)
# The two metric passes over the same samples: the pixel metrics (and the judge's accuracy),
# then the judge's frame features for the consistency metrics.
ENCODERS = ("pixel", "testbed_judge")
# experiment=method_zoo's arms (conf/zoo/*.yaml), in the report's order.
ZOO_ARMS = (
    "plain",
    "freeinit",
    "freqprior",
    "freeu",
    "bytheway",
    "freeinit_freeu",
    "freeinit_bytheway",
    "freqprior_bytheway",
)


def compose_job(overrides: list[str], out: Path, cache_dir: Path | None = None) -> DictConfig:
    """The config ``python run.py <overrides>`` would run, writing into ``out`` (cache:
    ``cache_dir``, default the repository's ``cache/``, as the runner's)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    with open_dict(cfg):
        cfg.paths.root = str(ROOT)
        cfg.paths.output_dir = str(out)
        if cache_dir is not None:
            cfg.paths.cache_dir = str(cache_dir)
    return cfg


@dataclass
class Job:
    """One generate job: its setting's name, encoder, overrides and output folder."""

    name: str
    encoder: str
    overrides: list[str]
    out: Path
    summary: dict[str, Any] = field(default_factory=dict)


def plan_jobs(
    out: Path,
    num_prompts: int,
    num_seeds: int,
    threads: int,
    *,
    refinements: int = REFINEMENTS,
    freeinit: bool = True,
    zoo: bool = True,
    extra: tuple[str, ...] = (),
) -> list[Job]:
    """Every job, in run order: each setting with the pixel encoder, then the judge's (its
    samples are then cached). ``extra``: more overrides for every job (e.g. fewer steps)."""
    common = [
        "model=testbed",
        "dataset=shapes",
        f"dataset.limit={num_prompts}",
        f"num_seeds={num_seeds}",
        "logger=none",
        f"threads={threads}",
        "batch_size=16",
        "save_videos=false",
        "report=false",  # this script writes its own tables and figures
        "device=cpu",
    ]
    settings: dict[str, list[str]] = {}
    if freeinit:
        for f in FILTERS:
            settings[f] = [f"freeinit.method={f}", "freeinit.d0=0.25"]
            settings[f].append(f"freeinit.num_iters={refinements + 1}")
    if zoo:
        for arm in ZOO_ARMS:
            settings[f"zoo/{arm}"] = ["experiment=method_zoo", f"+zoo={arm}"]
    return [
        Job(name, enc, [*common, *ov, f"metrics.encoder={enc}", *extra], out / enc / name)
        for name, ov in settings.items()
        for enc in ENCODERS
    ]


def _speed_fallback(cache_dir: Path) -> float | None:
    """Seconds per UNet call of the testbed job with the most calls measured here (any weights
    or batch: retrained weights have no record of their own until a job ran)."""
    best: tuple[int, float] | None = None
    for file in (cache_dir / "speed").glob("*.json"):
        try:
            data = json.loads(file.read_text())
            calls, seconds = int(data["calls"]), float(data["seconds_per_call"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if data.get("model") == "testbed" and (best is None or calls > best[0]):
            best = (calls, seconds)
    return None if best is None else best[1]


def estimate(jobs: list[Job], cache_dir: Path) -> dict[str, Any]:
    """What the jobs will do, from the caches, without loading a model (the runner's
    ``task=plan``, each job counting what the jobs before it will cache): jobs, samples, passes,
    passes to sample, UNet calls, metric values to compute, and the UNet time at this machine's
    measured seconds per call."""
    from experiments.plan import job_plan  # task=plan's per-job plan (no model loaded)

    passes: set[str] = set()
    values: set[str] = set()
    total = dict.fromkeys(
        ("samples", "passes", "passes_to_generate", "unet_calls", "metric_values_to_compute"), 0
    )
    speed = None
    for job in jobs:
        plan = job_plan(compose_job(job.overrides, job.out, cache_dir), passes, values)
        passes |= set(plan["new_pass_keys"])
        values |= set(plan["new_metric_values"])
        for key in total:
            total[key] += plan[key]
        speed = speed or plan["seconds_per_unet_call"]
    source = "measured for these settings"
    if speed is None:
        speed, source = _speed_fallback(cache_dir), "an earlier testbed job here"
    seconds = None if speed is None else total["unet_calls"] * speed
    return (
        total
        | dict(jobs=len(jobs), seconds_per_unet_call=speed, speed_source=source)
        | dict(estimated_unet_seconds=seconds)
    )


# Decoding one pass and computing its metrics (pixel or judge) on the testbed: ~0.06 s per video
# pass, measured in a tiny run (2 prompts, batch 2) on 2 busy AMD EPYC cores; an upper bound for
# the full run, whose batches are larger and whose cached values are not recomputed.
DECODE_MEASURE_SECONDS = 0.06


def describe(plan: dict[str, Any]) -> str:
    """One line: jobs, passes, UNet calls, metric values, and the time estimate."""
    measure = plan["passes"] * DECODE_MEASURE_SECONDS / 60
    time = (
        f"~{plan['estimated_unet_seconds'] / 60:.1f} min of UNet time at "
        f"{plan['seconds_per_unet_call']:.3g} s/call ({plan['speed_source']}), plus at most "
        f"~{measure:.0f} min decoding and measuring"
        if plan["estimated_unet_seconds"] is not None
        else "no time estimate (no testbed job has run on this machine)"
    )
    return (
        f"{plan['jobs']} jobs ({plan['jobs'] // len(ENCODERS)} settings x {len(ENCODERS)} "
        f"encoders), {plan['samples']} job-samples, {plan['passes']} passes: "
        f"{plan['passes_to_generate']} to sample with {plan['unet_calls']} UNet calls, "
        f"{plan['metric_values_to_compute']} metric values to compute; {time}"
    )


def run_jobs(jobs: list[Job], cache_dir: Path) -> list[Job]:
    """Run (or read from the cache) every job, one after another in this process. A judge
    pass that had to sample is logged: its samples should all come from the pixel pass."""
    from experiments.generate import run_generate

    for job in jobs:
        print("+ run.py", " ".join(job.overrides), flush=True)
        job.summary = run_generate(compose_job(job.overrides, job.out, cache_dir))
        if job.encoder != ENCODERS[0] and job.summary["passes_generated"]:
            logging.getLogger(__name__).warning(
                "%s (%s): %d passes sampled again; the pass cache missed",
                job.name,
                job.encoder,
                job.summary["passes_generated"],
            )
    return jobs


def write_snr_clips(folder: Path, num_clips: int, seed: int = 0) -> None:
    """``num_clips`` training-split clips as GIFs (the testbed's own data)."""
    import imageio.v3 as iio

    from freqlab.testbed.data import make_clips

    folder.mkdir(parents=True, exist_ok=True)
    clips, _ = make_clips(num_clips, seed=seed + 10_000)
    for i, clip in enumerate(clips):
        frames = (clip.transpose(0, 2, 3, 1) * 255).round().astype(np.uint8)
        with atomic_path(folder / f"clip{i:03d}.gif") as tmp:
            iio.imwrite(tmp, frames, duration=125, loop=0)


def _copy(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` atomically, with the user's umask."""
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


def _about(sweep: Any, num_prompts: int, num_seeds: int, refinements: int) -> str:
    """The paragraph above the table: what ran, on what."""
    f = sweep.frame.iloc[0]
    return (
        f"{num_prompts} held-out prompts × {num_seeds} seeds = {num_prompts * num_seeds} pairs; "
        f"{int(f.num_inference_steps)} DDIM steps, CFG {f.guidance_scale:g}, "
        f"{int(f.num_frames)}×{int(f.height)}×{int(f.width)}. FreeInit at d0 = 0.25, iterations "
        f"1–{refinements} (the refinements after the plain pass 0), gaussian and butterworth; "
        "the method zoo (`experiment=method_zoo`): FreqPrior 3 passes (Butterworth n = 4, "
        "d0 0.25), FreeU and ByTheWay at the testbed's settings, and their combinations "
        "(FreeInit there: butterworth, 3 passes). Judge: the shipped "
        "`freqlab/testbed/judge.py` (`testbed_accuracy`: share of shape, colour, direction and "
        "background read; `testbed_all4`: all four); `dino_consistency[testbed_judge]`: "
        "consistency on the judge's frame features (`metrics.encoder=testbed_judge`). "
        "Reproduce: `python -m experiments.testbed_results --docs docs`."
    )


def run_snr(out: Path, threads: int, cache_dir: Path) -> None:
    """FreeInit's SNR-by-frequency analysis on 32 training-split clips (``out/snr``)."""
    from experiments.snr import run_snr as snr_job

    write_snr_clips(out / "snr_clips", 32)
    overrides = [
        "task=snr",
        "model=testbed",
        f"snr.videos={out / 'snr_clips'}",
        "snr.num_videos=32",
        "snr.progress=false",
        "logger=none",
        f"threads={threads}",
        "device=cpu",
        "dataset=shapes",
    ]
    print("+ run.py", " ".join(overrides), flush=True)
    snr_job(compose_job(overrides, out / "snr", cache_dir))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run everything, print the table and write the table and figures; returns what was
    written (``markdown``, ``rows``, ``figures``, ``jobs``, ``plan``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=48, help="held-out prompts (1-48)")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument(
        "--refinements", type=int, default=REFINEMENTS, help="FreeInit iterations after pass 0"
    )
    parser.add_argument("--steps", type=int, default=None, help="DDIM steps (model default: 25)")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "testbed_results")
    parser.add_argument("--docs", type=Path, default=None, help="also copy table and figures here")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "cache")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the jobs")
    parser.add_argument("--batch-size", type=int, default=16, help="videos sampled together")
    parser.add_argument("--figure-prompts", type=int, default=4, help="prompts in the figure")
    parser.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples")
    parser.add_argument("--skip-snr", action="store_true")
    parser.add_argument("--skip-zoo", action="store_true", help="no experiment=method_zoo")
    parser.add_argument("--skip-freeinit", action="store_true", help="no FreeInit filter sweeps")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(message)s")
    if not 1 <= args.prompts <= 48:
        parser.error(f"--prompts must be in 1..48 (the held-out captions), got {args.prompts}")
    numbers = ("seeds", "threads", "refinements", "batch_size", "figure_prompts", "resamples")
    if min(getattr(args, n) for n in numbers) < 1 or (args.steps is not None and args.steps < 1):
        parser.error(
            "--seeds, --threads, --refinements, --batch-size, --figure-prompts, "
            "--resamples and --steps must be >= 1"
        )
    if args.skip_zoo and args.skip_freeinit:
        parser.error("--skip-zoo and --skip-freeinit together leave nothing to run")
    extra = [f"batch_size={args.batch_size}"]
    if args.steps is not None:
        extra.append(f"model.num_inference_steps={args.steps}")
    jobs = plan_jobs(
        args.out,
        args.prompts,
        args.seeds,
        args.threads,
        refinements=args.refinements,
        freeinit=not args.skip_freeinit,
        zoo=not args.skip_zoo,
        extra=tuple(extra),
    )
    plan = estimate(jobs, args.cache_dir)
    print(f"testbed results: {describe(plan)}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.skip_snr:
        run_snr(args.out, args.threads, args.cache_dir)
    run_jobs(jobs, args.cache_dir)
    # Pixel-pass folders first: each row's first non-null value per column is kept, and the
    # pixel pass holds every column but the judge-feature ones.
    sweep = load_sweep(*(j.out for e in ENCODERS for j in jobs if j.encoder == e))
    # The table's metrics first (the row order of each method), then every other one (CSV).
    metrics = [*report.TABLE_METRICS, *(m for m in sweep.metrics if m not in report.TABLE_METRICS)]
    rows = report.method_rows(sweep, metrics, n_resamples=args.resamples)
    with atomic_path(args.out / "testbed_results.csv") as tmp:
        rows.to_csv(tmp, index=False)
    table = rows[rows.metric.isin(report.TABLE_METRICS)]
    text = report.markdown(table, _about(sweep, args.prompts, args.seeds, args.refinements))
    write_atomic(args.out / "testbed_results.md", text.encode())
    print(text, flush=True)
    figures = ["testbed_results.md", "testbed_freeinit.png"]
    report.plot_iterations(table, args.out / "testbed_freeinit.png")
    if report.plot_tradeoff(table, args.out / "testbed_zoo.png"):
        figures.append("testbed_zoo.png")
    from freqlab.data import load_prompts

    ids = [p.id for p in load_prompts("shapes", limit=min(args.figure_prompts, args.prompts))]
    shown = report.sample_figure(sweep, table, args.out / "testbed_samples.png", ids, seed=0)
    figures.append("testbed_samples.png")
    print(f"testbed_samples.png: {len(ids)} prompts, seed 0; rows: {', '.join(shown)}")
    if args.docs:
        args.docs.mkdir(parents=True, exist_ok=True)
        for name in figures:
            _copy(args.out / name, args.docs / name)
        snr_plot = args.out / "snr" / "snr_first_step.png"
        if snr_plot.exists():
            _copy(snr_plot, args.docs / "testbed_snr.png")
    return dict(markdown=text, rows=rows, figures=figures, jobs=jobs, plan=plan, shown=shown)


if __name__ == "__main__":
    main()
