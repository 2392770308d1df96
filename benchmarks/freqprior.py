"""FreqPrior vs FreeInit at equal iterations: UNet calls and wall time per video.

Run with ``python -m benchmarks.freqprior [--quick] [--model testbed] [--steps 25] ...``. In one
process, on one pipeline, with the same prompts, seeds and settings, it runs three samplers of
``--iters`` (3) passes each, one video per call:

* ``freqlab.FreeInit(num_iters=3, method="butterworth")`` (n = 4, d_s = d_t = 0.25): every pass
  runs all steps, 3 x 25 = 75 UNet calls per video at 25 steps;
* ``freqlab.FreqPrior(num_iters=3, mid_step=321)`` (same filter; ``save_intermediate=False``, the
  library's and the official default): the passes before the last stop at ``mid_step``,
  16 + 16 + 25 = 57 UNet calls (goal: 57 vs 75, a ratio of 0.76);
* ``FreqPrior(..., save_intermediate=True)``, what the runner does (every pass finished, so that
  every iteration can be decoded and measured): 75 calls, the same final latents.

The scheduler is the model's DDIM set to ``timestep_spacing="leading"``, ``steps_offset=1``
(AnimateDiff's published inference schedule): timestep 321, the official ``mid_step``, exists
there at 25 and 50 steps, and not in the testbed's ``linspace`` schedule. ``--mid-step auto``
(default) takes the schedule's timestep nearest 321 after the first (321 itself at 25 steps);
an int must be one of those timesteps.

The table gives each sampler's UNet calls per pass and per video (from ``result.unet_calls``,
checked against what the schedule implies), the median wall and process CPU seconds per video,
and the ratios to FreeInit, all measured in this run; the samplers alternate video by video after
one warm-up video each, so that load drifts on a shared machine hit all three alike. With one
torch thread (the default) the process CPU time measures the work even when another process
shares the cores. ``max |final FreqPrior - final save_intermediate|`` checks that finishing the
earlier passes changes nothing (DDIM with eta 0 draws no noise after ``mid_step``).

``--quick``: 1 prompt, 1 seed, 4 frames of 16 x 16 pixels, 5 steps, 1 repeat (a smoke run);
explicit options still override it.
"""

from __future__ import annotations

import argparse
import copy
import functools
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

# The testbed's captions (freqlab.data.shapes.caption): prompts it was trained on.
PROMPTS = (
    "a red circle moving left on a gray background",
    "a blue square moving up on a black background",
)
SEEDS = (0, 1)
NUM_ITERS = 3
STEPS = 25
GUIDANCE = 7.5
# FreqPrior's official mid_step (timestep 321 of 25 DDIM "leading" steps: index 16).
OFFICIAL_MID_STEP = 321
FILTER = dict(method="butterworth", d_s=0.25, d_t=0.25, order=4)
QUICK = dict(prompts=PROMPTS[:1], seeds=SEEDS[:1], frames=4, size=16, steps=5, repeats=1)

FREEINIT = "FreeInit"
FREQPRIOR = "FreqPrior"
FREQPRIOR_FULL = "FreqPrior save_intermediate"
ROWS = (FREEINIT, FREQPRIOR, FREQPRIOR_FULL)


@dataclass
class Row:
    """One sampler's measurements: UNet calls of each pass (``expected`` from the schedule) and
    wall / process CPU seconds of each timed video."""

    name: str
    expected: list[int]
    calls: list[int] | None = None
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)

    @property
    def calls_per_video(self) -> int:
        return sum(self.calls or [])

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus)


def use_leading_ddim(pipe) -> None:
    """Give ``pipe`` its DDIM scheduler with AnimateDiff's "leading" spacing (``steps_offset=1``),
    the schedule FreqPrior's ``mid_step=321`` was chosen on."""
    from diffusers import DDIMScheduler

    pipe.scheduler = DDIMScheduler.from_config(
        pipe.scheduler.config, timestep_spacing="leading", steps_offset=1, clip_sample=False
    )


def schedule_timesteps(scheduler, steps: int) -> list[int]:
    """The timesteps ``scheduler`` runs at ``steps`` inference steps (set on a copy)."""
    probe = copy.deepcopy(scheduler)
    probe.set_timesteps(steps)
    return [int(round(float(t))) for t in probe.timesteps]


def pick_mid_step(timesteps: list[int], requested: str | int = "auto") -> tuple[int, int]:
    """``(mid_step, its index in timesteps)``: ``"auto"`` is the timestep nearest 321 after the
    first (ties: the earlier, noisier one); an int must be one of the timesteps after the first."""
    later = timesteps[1:]
    if not later:
        raise SystemExit("FreqPrior needs at least 2 inference steps (its passes stop mid-way)")
    if requested == "auto":
        mid = min(later, key=lambda t: abs(t - OFFICIAL_MID_STEP))
    else:
        mid = int(requested)
        if mid not in later:
            raise SystemExit(f"--mid-step {mid} is not a timestep after the first of {timesteps}")
    return mid, timesteps.index(mid, 1)


def expected_calls(steps: int, mid_index: int, num_iters: int) -> dict[str, list[int]]:
    """UNet calls of each pass that the schedule implies (CFG halves share one call)."""
    return {
        FREEINIT: [steps] * num_iters,
        FREQPRIOR: [mid_index] * (num_iters - 1) + [steps],
        FREQPRIOR_FULL: [steps] * num_iters,
    }


def make_samplers(num_iters: int, mid_step: int) -> dict[str, Any]:
    from freqlab import FreeInit, FreqPrior

    return {
        FREEINIT: FreeInit(num_iters=num_iters, **FILTER),
        FREQPRIOR: FreqPrior(num_iters=num_iters, mid_step=mid_step, **FILTER),
        FREQPRIOR_FULL: FreqPrior(
            num_iters=num_iters, mid_step=mid_step, save_intermediate=True, **FILTER
        ),
    }


def timed(fn: Callable[[], Any], sync: Callable[[], None]) -> tuple[float, float, Any]:
    """``(wall seconds, process CPU seconds, fn())``; ``sync`` waits for queued device work."""
    sync()
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    sync()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def measure(
    pipe,
    samplers: dict[str, Any],
    expected: dict[str, list[int]],
    videos: list[tuple[str, int]],
    call_kwargs: dict[str, Any],
    repeats: int,
    warmup: bool = True,
) -> tuple[dict[str, Row], float]:
    """Run every sampler on every ``(prompt, seed)`` video ``repeats`` times, alternating
    samplers video by video; ``(rows, max |final FreqPrior - final save_intermediate|)``."""
    sync = torch.cuda.synchronize if pipe.device.type == "cuda" else (lambda: None)
    rows = {name: Row(name, expected[name]) for name in samplers}

    def run(name: str, prompt: str, seed: int):
        return samplers[name](
            pipe, prompt=prompt, generator=torch.Generator().manual_seed(seed), **call_kwargs
        )

    if warmup:
        for name in samplers:
            run(name, *videos[0])
    diff = 0.0
    for repeat in range(repeats):
        for prompt, seed in videos:
            finals = {}
            for name in samplers:
                wall, cpu, result = timed(functools.partial(run, name, prompt, seed), sync)
                row = rows[name]
                row.walls.append(wall)
                row.cpus.append(cpu)
                if row.calls is not None and list(result.unet_calls) != row.calls:
                    raise RuntimeError(
                        f"{name}: UNet calls per pass changed between videos: "
                        f"{row.calls} then {list(result.unet_calls)}"
                    )
                row.calls = list(result.unet_calls)
                finals[name] = result.final
            if repeat == 0 and {FREQPRIOR, FREQPRIOR_FULL} <= set(finals):
                gap = (finals[FREQPRIOR] - finals[FREQPRIOR_FULL]).abs().max().item()
                diff = max(diff, gap)
    return rows, diff


def format_table(rows: dict[str, Row]) -> list[str]:
    """The table's lines; ratios are each row over FreeInit's, measured in the same run."""
    base = rows[FREEINIT]
    header = (
        f"{'sampler':<29}{'UNet calls per pass':>21}{'per video':>11}{'expected':>10}"
        f"{'wall s':>9}{'CPU s':>9}{'calls ratio':>13}{'wall ratio':>12}{'CPU ratio':>11}"
    )
    lines = [header, "-" * len(header)]
    for row in rows.values():
        passes = " + ".join(map(str, row.calls or []))
        lines.append(
            f"{row.name:<29}{passes:>21}{row.calls_per_video:>11}{sum(row.expected):>10}"
            f"{row.wall:>9.3f}{row.cpu:>9.3f}"
            f"{row.calls_per_video / base.calls_per_video:>13.3f}"
            f"{row.wall / base.wall:>12.3f}{row.cpu / base.cpu:>11.3f}"
        )
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="testbed", help="freqlab model name (AnimateDiff DDIM)")
    parser.add_argument("--quick", action="store_true", help="smoke-run settings (see docstring)")
    parser.add_argument("--iters", type=int, default=NUM_ITERS, help="passes of each sampler")
    parser.add_argument("--steps", type=int, help=f"DDIM steps (default {STEPS})")
    parser.add_argument("--mid-step", default="auto", help="FreqPrior's mid_step: auto or an int")
    parser.add_argument("--frames", type=int, help="frames (default: the model's)")
    parser.add_argument("--size", type=int, help="height = width in pixels (default: the model's)")
    parser.add_argument("--prompts", nargs="+", help="prompts (default: two testbed captions)")
    parser.add_argument("--seeds", nargs="+", type=int, help=f"seeds (default {list(SEEDS)})")
    parser.add_argument("--guidance", type=float, default=GUIDANCE, help="CFG scale")
    parser.add_argument("--repeats", type=int, help="timed runs of every video (default 3)")
    parser.add_argument("--no-warmup", dest="warmup", action="store_false")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda")
    parser.add_argument("--dtype", help="weight dtype (fp16, bf16, ...; default: the model's)")
    # One thread by default: on a shared 2-core machine, two threads stall whenever another
    # process takes a core, and those stalls swamp the differences measured here.
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)
    quick = QUICK if args.quick else {}
    defaults = dict(prompts=list(PROMPTS), seeds=list(SEEDS), steps=STEPS, repeats=3)
    for key in ("prompts", "seeds", "frames", "size", "steps", "repeats"):
        if getattr(args, key) is None:
            setattr(args, key, quick.get(key, defaults.get(key)))
    if args.mid_step != "auto":
        args.mid_step = int(args.mid_step)
    return args


def main(argv: list[str] | None = None) -> dict[str, Row]:
    """Run the benchmark, print the table; returns its rows (name -> :class:`Row`)."""
    args = parse_args(argv)
    from freqlab.models import get_model_spec, load_model

    torch.set_num_threads(args.threads)
    spec = get_model_spec(args.model).defaults
    frames = args.frames or spec["num_frames"]
    height = width = args.size or spec["height"]
    pipe = load_model(args.model, device=args.device, dtype=args.dtype)
    use_leading_ddim(pipe)
    timesteps = schedule_timesteps(pipe.scheduler, args.steps)
    mid_step, mid_index = pick_mid_step(timesteps, args.mid_step)
    expected = expected_calls(args.steps, mid_index, args.iters)
    videos = [(p, s) for p in args.prompts for s in args.seeds]
    call_kwargs = dict(
        num_frames=frames,
        height=height,
        width=width,
        num_inference_steps=args.steps,
        guidance_scale=args.guidance,
    )
    print(
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{pipe.device}, {torch.get_num_threads()} threads, model {args.model} ({pipe.dtype})"
    )
    print(
        f"settings: {len(videos)} videos ({len(args.prompts)} prompts x seeds {list(args.seeds)}), "
        f"{frames} frames, {height}x{width}, {args.steps} DDIM 'leading' steps, CFG "
        f"{args.guidance}, {args.iters} iterations, butterworth n=4 d=0.25, {args.repeats} "
        "timed repeat(s)"
    )
    print(f"FreqPrior mid_step {mid_step} (index {mid_index} of timesteps {timesteps[0]}..)")
    start = time.perf_counter()
    rows, diff = measure(
        pipe,
        make_samplers(args.iters, mid_step),
        expected,
        videos,
        call_kwargs,
        args.repeats,
        args.warmup,
    )
    for line in format_table(rows):
        print(line)
    free, prior = rows[FREEINIT], rows[FREQPRIOR]
    print(
        f"FreqPrior/FreeInit: UNet calls {prior.calls_per_video}/{free.calls_per_video} = "
        f"{prior.calls_per_video / free.calls_per_video:.3f}, wall {prior.wall / free.wall:.3f}, "
        f"CPU {prior.cpu / free.cpu:.3f}"
    )
    mismatched = [r.name for r in rows.values() if r.calls != r.expected]
    print(
        "UNet calls as the schedule implies: "
        + ("yes" if not mismatched else f"NO for {', '.join(mismatched)}")
    )
    print(f"max |final FreqPrior - final save_intermediate| latents: {diff:.3g}")
    print(f"total {time.perf_counter() - start:.1f} s")
    return rows


if __name__ == "__main__":
    main()
