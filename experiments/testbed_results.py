"""The README's testbed results, re-runnable: ``python -m experiments.testbed_results``.

1. FreeInit sweeps through the generate job (``run.py model=testbed dataset=shapes``, composed
   with Hydra's compose API and run in this process): gaussian and butterworth at d0 = 0.25,
   ``num_iters=6`` (iteration 0 is the plain sample, 1-5 refinements), FreeU off; one FreeU run
   (the model's factors, FreeInit off) on the same prompts and seeds.
2. Paired differences against iteration 0 (the same prompt, seed and initial noise) with
   percentile-bootstrap 95% CIs, for pixel-encoder temporal consistency, flicker and motion: the
   report's pairing (:mod:`evaluation.report.pairing`).
3. FreeInit's SNR-by-frequency analysis (``task=snr``) on clips of the testbed's training data.
4. The method zoo (``experiment=method_zoo``: plain, FreeInit, FreqPrior, FreeU, ByTheWay and
   their combinations) on the same prompts and seeds, each against plain sampling
   (:mod:`evaluation.report.zoo`), unless ``--skip-zoo``.

Writes ``<out>/testbed_results.md``, ``<out>/testbed_freeinit.png``, ``<out>/testbed_zoo.png`` and ``<out>/testbed_samples.png``
(frames of held-out prompts: plain, FreeInit, FreeU), and the SNR job's plots;
with ``--docs DIR`` also copies the figures there. Samples are cached, so a re-run is cheap.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig, open_dict

from evaluation.report.pairing import freeinit_differences, freeu_differences
from evaluation.report.statistics import MIN_PAIRS
from evaluation.report.zoo import method_differences, plot_method_tradeoff
from evaluation.results import Sweep, load_sweep

ROOT = Path(__file__).resolve().parents[1]
METRICS = {
    "dino_consistency[pixel]": "consistency (pixel, higher = more consistent)",
    "temporal_flicker": "temporal flicker (pixels)",
    "motion": "motion (pixels)",
}
FILTERS = ("gaussian", "butterworth")
REFINEMENTS = 5  # FreeInit iterations after the plain sample (num_iters = REFINEMENTS + 1)
_COLUMNS = ["setting", "iteration", "metric", "base", "diff", "lo", "hi", "n"]


def compose_job(overrides: list[str], out: Path) -> DictConfig:
    """The config ``python run.py <overrides>`` would run, writing into ``out`` (cache: the
    repository's ``cache/``, as the runner's)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    with open_dict(cfg):
        cfg.paths.root = str(ROOT)
        cfg.paths.output_dir = str(out)
    return cfg


def run_sweeps(
    out: Path, num_prompts: int, num_seeds: int, threads: int, refinements: int = REFINEMENTS
) -> list[Path]:
    """Run (or read from the cache) every setting, one after another in this process with
    ``threads`` torch threads; returns the job folders (``out/<setting>``)."""
    from experiments.generate import run_generate

    common = [
        "model=testbed",
        "dataset=shapes",
        f"dataset.limit={num_prompts}",
        f"num_seeds={num_seeds}",
        "logger=none",
        f"threads={threads}",
        "batch_size=16",
        "save_videos=false",
        "device=cpu",
    ]
    settings = {
        f: [f"freeinit.method={f}", "freeinit.d0=0.25", f"freeinit.num_iters={refinements + 1}"]
        for f in FILTERS
    }
    settings["freeu"] = ["freeu=model", "freeinit.enabled=false"]
    for name, overrides in settings.items():
        print("+ run.py", " ".join([*common, *overrides]), flush=True)
        run_generate(compose_job([*common, *overrides], out / name))
    return [out / name for name in settings]


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


def run_zoo(
    out: Path, num_prompts: int, num_seeds: int, threads: int, extra: tuple[str, ...] = ()
) -> list[Path]:
    """Every arm of ``experiment=method_zoo`` on the testbed (the same prompts and seeds), one
    job after another in this process; returns the job folders (``out/zoo/<arm>``). ``extra``:
    more overrides (e.g. fewer steps)."""
    from experiments.generate import run_generate

    common = [
        "experiment=method_zoo",
        "model=testbed",
        "dataset=shapes",
        f"dataset.limit={num_prompts}",
        f"num_seeds={num_seeds}",
        "logger=none",
        f"threads={threads}",
        "batch_size=16",
        "save_videos=false",
        "device=cpu",
        *extra,
    ]
    for arm in ZOO_ARMS:
        print("+ run.py", " ".join([*common, f"+zoo={arm}"]), flush=True)
        run_generate(compose_job([*common, f"+zoo={arm}"], out / "zoo" / arm))
    return [out / "zoo" / arm for arm in ZOO_ARMS]


def zoo_markdown(zoo: pd.DataFrame, sweep: Sweep) -> str:
    """The README snippet of the method zoo: every method against plain sampling."""
    from evaluation.report.tables import method_table

    table = method_table(sweep, zoo)
    if table is None:
        return ""
    return table.to_markdown().split("\n", 2)[2]  # without the "### title" heading


def differences(sweep: Sweep) -> pd.DataFrame:
    """One row per (setting, iteration, metric): base mean, mean paired difference, 95% CI, n.

    ``setting`` is the FreeInit filter of runs without FreeU (iterations >= 1 against their
    iteration 0), and ``freeu`` for the FreeU run (its iteration 0 against plain sampling's).
    """
    diff = freeinit_differences(sweep)
    fi = diff[~diff.freeu.astype(bool) & (diff.iteration > 0) & diff.metric.isin(list(METRICS))]
    fi = fi.assign(setting=fi.method)
    fu = freeu_differences(sweep)
    if not fu.empty:
        fu = fu[(fu.arm == "FreeU") & fu.metric.isin(list(METRICS))].assign(
            setting="freeu", iteration=0
        )
    both = pd.concat([fi, fu], ignore_index=True)
    both = both.rename(
        columns={"baseline": "base", "delta": "diff", "ci_low": "lo", "ci_high": "hi"}
    )
    order = {name: i for i, name in enumerate([*FILTERS, "freeu"])}
    both = both.assign(_order=both.setting.map(order).fillna(len(order)))
    both = both.sort_values(["_order", "iteration"], kind="stable")
    return both[_COLUMNS].reset_index(drop=True)


def plot(diff: pd.DataFrame, path: Path) -> None:
    """Mean paired difference vs iteration with 95% CIs, one panel per metric."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(METRICS), figsize=(4.2 * len(METRICS), 3.4))
    for ax, metric in zip(axes, METRICS, strict=True):
        for k, name in enumerate(FILTERS):
            d = diff[(diff.setting == name) & (diff.metric == metric)]
            x = d.iteration + (k - 0.5) * 0.1
            ax.errorbar(
                x,
                d["diff"],
                yerr=[d["diff"] - d.lo, d.hi - d["diff"]],
                marker="o",
                capsize=3,
                label=f"FreeInit {name}",
            )
        f = diff[(diff.setting == "freeu") & (diff.metric == metric)]
        ax.errorbar(
            [0],
            f["diff"],
            yerr=[f["diff"] - f.lo, f.hi - f["diff"]],
            marker="s",
            color="k",
            capsize=3,
            label="FreeU (no FreeInit)",
        )
        ax.axhline(0, color="gray", lw=0.8)
        ax.set_title(metric)
        ax.set_xlabel("FreeInit iteration")
        ax.set_xticks(range(0, int(diff.iteration.max()) + 1))
    axes[0].set_ylabel("paired difference vs iteration 0 (95% CI)")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"testbed, {int(diff.n.max())} prompt x seed pairs, d0 = 0.25")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def markdown(diff: pd.DataFrame, num_prompts: int, num_seeds: int) -> str:
    """The README snippet: one table per metric."""
    lines = [
        f"{num_prompts} held-out prompts x {num_seeds} seeds = {num_prompts * num_seeds} pairs; "
        "25 DDIM steps, CFG 7.5, 8x32x32; differences vs iteration 0 of the same prompt and seed, "
        "percentile-bootstrap 95% CI. Reproduce: `python -m experiments.testbed_results`.",
        "",
        "| setting | iteration | " + " | ".join(METRICS) + " |",
        "|---|---|" + "---|" * len(METRICS),
    ]
    base = diff[diff.iteration.isin([1]) & (diff.setting == FILTERS[0])].set_index("metric")
    lines.append(
        "| baseline mean | 0 | " + " | ".join(f"{base.base[m]:.4f}" for m in METRICS) + " |"
    )
    last = int(diff.iteration.max())
    keys = [(n, i) for n in FILTERS for i in range(1, last + 1)] + [("freeu", 0)]
    for name, it in keys:
        cells = []
        for m in METRICS:
            r = diff[(diff.setting == name) & (diff.iteration == it) & (diff.metric == m)].iloc[0]
            star = " *" if r.n >= MIN_PAIRS and (r.lo > 0 or r.hi < 0) else ""
            cells.append(f"{r['diff']:+.4f} [{r.lo:+.4f}, {r.hi:+.4f}]{star}")
        label = "FreeU on (FreeInit off)" if name == "freeu" else f"FreeInit {name}"
        lines.append(f"| {label} | {it if name != 'freeu' else '-'} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"`*`: the 95% CI excludes 0 (marked from {MIN_PAIRS} pairs on).")
    return "\n".join(lines) + "\n"


def sample_figure(
    path: Path, num_prompts: int = 4, seed: int = 0, num_inference_steps: int | None = None
) -> None:
    """Frames of held-out prompts: plain sampling (iteration 0), FreeInit gaussian d0 = 0.25 after
    ``REFINEMENTS`` refinements, and FreeU; the model's default sampling settings (25 DDIM steps,
    CFG 7.5) unless ``num_inference_steps`` is given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from freqlab import FreeInit, FreeU
    from freqlab.data import load_prompts
    from freqlab.models import get_model_spec, load_model

    spec = get_model_spec("testbed")
    pipe = load_model("testbed", device="cpu")
    prompts = [p.text for p in load_prompts("shapes", limit=num_prompts)]
    frames = spec.defaults["num_frames"]
    kwargs = dict(
        prompt=prompts,
        num_frames=frames,
        height=spec.defaults["height"],
        width=spec.defaults["width"],
        num_inference_steps=num_inference_steps or spec.defaults["num_inference_steps"],
        guidance_scale=spec.defaults["guidance_scale"],
    )

    def generators() -> list[torch.Generator]:
        return [torch.Generator().manual_seed(seed) for _ in prompts]

    freeinit = FreeInit(num_iters=REFINEMENTS + 1, method="gaussian", d_s=0.25, d_t=0.25)
    result = freeinit(pipe, generator=generators(), decode=[0, -1], **kwargs)
    with FreeU(**spec.freeu).apply(pipe.unet):
        freeu = FreeInit(num_iters=1)(pipe, generator=generators(), decode=[0], **kwargs)
    arms = [
        ("plain", result.videos[0]),
        (f"FreeInit\niteration {REFINEMENTS}", result.videos[-1]),
        ("FreeU", freeu.videos[0]),
    ]
    rows = len(prompts) * len(arms)
    fig, axes = plt.subplots(rows, frames, figsize=(frames * 0.9, rows * 0.95), squeeze=False)
    for p, prompt in enumerate(prompts):
        for a, (label, videos) in enumerate(arms):
            r = p * len(arms) + a
            for t in range(frames):
                ax = axes[r, t]
                ax.imshow(videos[p, t].permute(1, 2, 0).clamp(0, 1).numpy())
                ax.set_xticks([])
                ax.set_yticks([])
            axes[r, 0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
        axes[p * len(arms), frames // 2].set_title(prompt, fontsize=7)
    fig.subplots_adjust(left=0.1, right=0.99, top=0.97, bottom=0.01, wspace=0.05, hspace=0.25)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_snr_clips(folder: Path, num_clips: int, seed: int = 0) -> None:
    """``num_clips`` training-split clips as GIFs (the testbed's own data)."""
    import imageio.v3 as iio

    from freqlab.testbed.data import make_clips

    folder.mkdir(parents=True, exist_ok=True)
    clips, _ = make_clips(num_clips, seed=seed + 10_000)
    for i, clip in enumerate(clips):
        frames = (clip.transpose(0, 2, 3, 1) * 255).round().astype(np.uint8)
        iio.imwrite(folder / f"clip{i:03d}.gif", frames, duration=125, loop=0)


def main(argv: list[str] | None = None) -> None:
    """Run everything and write the markdown snippet and figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=48, help="held-out prompts (1-48)")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument(
        "--refinements",
        type=int,
        default=REFINEMENTS,
        help="FreeInit iterations after the plain one",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "testbed_results")
    parser.add_argument("--docs", type=Path, default=None, help="also copy the figures here")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the jobs")
    parser.add_argument("--skip-snr", action="store_true")
    parser.add_argument("--skip-zoo", action="store_true", help="no experiment=method_zoo")
    parser.add_argument(
        "--skip-freeinit", action="store_true", help="no FreeInit filter sweeps / sample figure"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(message)s")
    if not 1 <= args.prompts <= 48:
        parser.error(f"--prompts must be in 1..48 (the held-out captions), got {args.prompts}")
    if min(args.seeds, args.threads, args.refinements) < 1:
        parser.error("--seeds, --threads and --refinements must be >= 1")
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.skip_snr:
        write_snr_clips(args.out / "snr_clips", 32)
        from experiments.snr import run_snr

        overrides = [
            "task=snr",
            "model=testbed",
            f"snr.videos={args.out / 'snr_clips'}",
            "snr.num_videos=32",
            "snr.progress=false",
            "logger=none",
            f"threads={args.threads}",
            "device=cpu",
            "dataset=shapes",
        ]
        print("+ run.py", " ".join(overrides), flush=True)
        run_snr(compose_job(overrides, args.out / "snr"))
    text, figures = "", []
    if not args.skip_freeinit:
        jobs = run_sweeps(args.out, args.prompts, args.seeds, args.threads, args.refinements)
        diff = differences(load_sweep(*jobs))
        diff.to_csv(args.out / "testbed_differences.csv", index=False)
        plot(diff, args.out / "testbed_freeinit.png")
        sample_figure(args.out / "testbed_samples.png")
        text = markdown(diff, args.prompts, args.seeds)
        figures = ["testbed_freeinit.png", "testbed_samples.png"]
    if not args.skip_zoo:
        zoo_sweep = load_sweep(*run_zoo(args.out, args.prompts, args.seeds, args.threads))
        zoo = method_differences(zoo_sweep)
        zoo.to_csv(args.out / "testbed_zoo.csv", index=False)
        figure = plot_method_tradeoff(zoo, "dino_consistency[pixel]", "motion")
        if figure is not None:
            figure.savefig(args.out / "testbed_zoo.png", dpi=110)
            figures.append("testbed_zoo.png")
        text += "\n### Every method vs plain sampling\n\n" + zoo_markdown(zoo, zoo_sweep)
    (args.out / "testbed_results.md").write_text(text)
    print(text)
    if args.docs:
        args.docs.mkdir(parents=True, exist_ok=True)
        for name in figures:
            shutil.copy(args.out / name, args.docs / name)
        snr_plot = args.out / "snr" / "snr_first_step.png"
        if snr_plot.exists():
            shutil.copy(snr_plot, args.docs / "testbed_snr.png")


if __name__ == "__main__":
    main()
