"""ByTheWay and FreeLong vs plain sampling: wall time per UNet call; the method zoo's UNet calls.

Run with ``python -m benchmarks.temporal_attention [--quick] [--steps 10] [--repeats 5] ...``.
Everything is measured in one process, in this run, on this machine.

**1. Time per UNet call.** A forward pre-hook (put first) and a forward hook (put last) on
``pipe.unet`` time every UNet call of a latents-only pipeline call (no VAE decoding; one call
covers both CFG halves), so prompt encoding and the scheduler are left out and the methods' own
UNet hooks are counted. Configurations, one prompt and seed, CFG 7.5:

* ``tiny_animatediff`` (``freqlab.models.tiny``, UNetMotionModel): plain sampling and
  ``freqlab.ByTheWay`` at ``--frames`` (16, ``tau = F/2 - 1`` = every temporal frequency but DC,
  as the registry's rule; the registry's alpha and beta); plain and ``freqlab.FreeLong(window=16)``
  at ``--long-frames`` (32, the motion modules' ``max_seq_length``: two attention streams where
  the window does not cover the video).
* ``tiny_modelscope`` (UNet3DConditionModel): ByTheWay refuses it (its ``UpBlock3D`` has no
  temporal attention, so one decoder block has it; the refusal is printed); plain and FreeLong at
  ``--long-frames``.
* ``tiny_modelscope_2up``: the same tiny UNet3D config with two ``CrossAttnUpBlock3D`` decoder
  blocks (and two ``CrossAttnDownBlock3D``), so that ByTheWay has a guide block and another
  block with temporal attention, as real ModelScope has; built here (:func:`two_temporal_up_blocks`),
  ByTheWay with the ``modelscope`` registry entry's alpha and beta.

ByTheWay rows: the default ``fraction=0.2`` (active in the first ``ceil(0.2 N)`` steps, explicit
``softmax(QKᵀ)`` and the map edit there, the original SDPA processor otherwise), ``fraction=1.0``
(every step), and ``fraction=1.0, guide_block=0``. On these tiny UNets the default guide block,
``up_blocks.1``, is the last decoder block with temporal attention, so by default nothing is
guided (motion enhancement of the guide's own maps only); ``guide_block=0`` makes ``up_blocks.1``
a target, so Temporal Self-Guidance (guide maps cached, interpolated and blended) runs too and
every decoder temporal attention is edited.

Columns: the mean time per UNet call over the first ``ceil(0.2 N)`` calls of a pipeline call
(ByTheWay's active steps at its default fraction) and over all ``N`` calls, each the median over
the timed repeats; the ratios ``x plain`` are the medians over repeats of the paired ratio to
plain sampling of the same model and frame count in the same repeat (the same step positions).
``BTW active``: ByTheWay's active UNet calls per pipeline call, from its handle.
After ``--warmup`` untimed calls of every configuration, the configurations are interleaved
within every repeat, starting one later each repeat, so that load changes on a shared machine hit
all of them alike. One torch thread by default.

**2. The method zoo's UNet calls** (``experiment=method_zoo``'s arms) on ``tiny_animatediff``
(``--zoo-frames``, ``--zoo-steps``): plain sampling, ``FreeInit`` (3 passes), ``FreqPrior``
(3 passes, the passes before the last stopped at ``mid_step``: the schedule's timestep nearest
the official 321 after the first), ``FreeU`` (the registry's factors), ``ByTheWay``, FreeInit +
FreeU, FreeInit + ByTheWay, FreqPrior + ByTheWay; FreeInit and FreqPrior with Butterworth n = 4,
d0 = 0.25 (the zoo's filter). UNet calls are counted with :class:`freqlab.sampling.CallCounter`
(a forward pre-hook on ``pipe.unet``) and checked against what the schedule implies and against
the samplers' own ``unet_calls``; ByTheWay's active calls come from its handle.

``--quick``: 16 x 16 pixels, ByTheWay at 4 frames, FreeLong at 8 with window 4, 3 steps, 1 timed
repeat, no warm-up, the zoo at 4 frames and 5 steps (a smoke run); explicit options override it.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch

PROMPT = "a red circle moving left on a gray background"
SEED = 0
GUIDANCE = 7.5
FRAMES = 16  # ByTheWay's published setting (tau = 7 at 16 frames)
LONG_FRAMES = 32  # FreeLong: twice the window, and the motion modules' max_seq_length
WINDOW = 16
STEPS = 10
ZOO_STEPS = 10  # the tiny models' default num_inference_steps
NUM_ITERS = 3
FILTER = dict(method="butterworth", d_s=0.25, d_t=0.25, order=4)  # the zoo's (conf/experiment)
OFFICIAL_MID_STEP = 321  # FreqPrior's official mid_step
DEFAULTS = dict(
    size=32,
    frames=FRAMES,
    long_frames=LONG_FRAMES,
    window=WINDOW,
    steps=STEPS,
    repeats=7,
    warmup=1,
    zoo_frames=8,
    zoo_steps=ZOO_STEPS,
)
QUICK = dict(
    size=16,
    frames=4,
    long_frames=8,
    window=4,
    steps=3,
    repeats=1,
    warmup=0,
    zoo_frames=4,
    zoo_steps=5,
)

ANIMATEDIFF = "tiny_animatediff"
MODELSCOPE = "tiny_modelscope"
MODELSCOPE_2UP = "tiny_modelscope_2up"
PLAIN = "plain"
BYTHEWAY = "ByTheWay"
BYTHEWAY_ALL = "ByTheWay fraction=1.0"
BYTHEWAY_TSG = "ByTheWay fraction=1.0 guide_block=0"
FREELONG = "FreeLong"
ZOO = (
    "plain",
    "FreeInit",
    "FreqPrior",
    "FreeU",
    "ByTheWay",
    "FreeInit + FreeU",
    "FreeInit + ByTheWay",
    "FreqPrior + ByTheWay",
)


# --------------------------------------------------------------------------- models


def two_temporal_up_blocks(pipe, seed: int = 0):
    """``pipe`` (a tiny ModelScope pipeline) with its UNet replaced by the same tiny UNet3D config
    with two cross-attention down and up blocks: temporal attention in both decoder blocks (the
    stock tiny config's ``UpBlock3D`` has none), so ByTheWay has a guide and a block to guide."""
    from diffusers import UNet3DConditionModel

    from freqlab.models.tiny import UNET3D_CONFIG

    torch.manual_seed(seed + 2)  # the seed tiny_modelscope's UNet is built with
    pipe.unet = UNet3DConditionModel(
        **dict(
            UNET3D_CONFIG,
            down_block_types=("CrossAttnDownBlock3D",) * 2,
            up_block_types=("CrossAttnUpBlock3D",) * 2,
        )
    )
    return pipe


def build_models(seed: int) -> dict[str, Any]:
    from freqlab.models.tiny import tiny_animatediff, tiny_modelscope

    return {
        ANIMATEDIFF: tiny_animatediff(seed),
        MODELSCOPE: tiny_modelscope(seed),
        MODELSCOPE_2UP: two_temporal_up_blocks(tiny_modelscope(seed), seed),
    }


def bytheway_settings(model: str, frames: int) -> dict[str, Any]:
    """The registry's ByTheWay arguments for ``model`` (the ``modelscope`` entry for the tiny
    ModelScope variant, which the registry does not list), ``tau = F/2 - 1`` for ``frames``."""
    from freqlab.models import get_model_spec

    spec = get_model_spec("modelscope" if model == MODELSCOPE_2UP else model)
    return dict(spec.bytheway, tau=frames // 2 - 1)


# --------------------------------------------------------------------------- 1. time per call


@dataclass
class Config:
    """One timed configuration: ``make()`` builds the method (None: plain sampling)."""

    model: str
    method: str
    frames: int
    make: Callable[[], Any] = field(repr=False)


@dataclass
class TimingRow:
    """Per timed repeat: mean seconds per UNet call over the first ``head`` calls and over all;
    ``calls`` and ByTheWay's ``active`` calls per pipeline call; ``skipped``: why it did not run."""

    model: str
    method: str
    frames: int
    calls: int = 0
    active: int | None = None
    first: list[float] = field(default_factory=list)
    whole: list[float] = field(default_factory=list)
    first_ratio: list[float] = field(default_factory=list)
    whole_ratio: list[float] = field(default_factory=list)
    skipped: str | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.model, self.method, self.frames)


def timing_configs(args: argparse.Namespace) -> tuple[list[Config], list[TimingRow]]:
    """The timed configurations, and the rows that cannot run (ByTheWay on tiny_modelscope)."""
    from freqlab import ByTheWay, FreeLong

    configs, refused = [], []

    def add(model: str, method: str, frames: int, make: Callable[[], Any]) -> None:
        configs.append(Config(model, method, frames, make))

    for model in (ANIMATEDIFF, MODELSCOPE_2UP):
        settings = bytheway_settings(model, args.frames)
        add(model, PLAIN, args.frames, lambda: None)
        add(model, BYTHEWAY, args.frames, lambda s=settings: ByTheWay(**s))
        add(model, BYTHEWAY_ALL, args.frames, lambda s=settings: ByTheWay(**dict(s, fraction=1.0)))
        add(
            model,
            BYTHEWAY_TSG,
            args.frames,
            lambda s=settings: ByTheWay(**dict(s, fraction=1.0, guide_block=0)),
        )
    for model in (ANIMATEDIFF, MODELSCOPE):
        add(model, PLAIN, args.long_frames, lambda: None)
        add(model, FREELONG, args.long_frames, lambda: FreeLong(window=args.window))
    refused.append(TimingRow(MODELSCOPE, BYTHEWAY, args.frames))
    return configs, refused


def timed_call(pipe, method, frames: int, args: argparse.Namespace) -> tuple[list[float], Any]:
    """One latents-only pipeline call with ``method`` applied: ``(seconds of each UNet call,
    the method's handle or None)``."""
    times: list[float] = []
    start = [0.0]

    def pre(module, inputs):
        start[0] = time.perf_counter()

    def post(module, inputs, output):
        times.append(time.perf_counter() - start[0])

    with method.apply(pipe) if method is not None else nullcontext() as handle:
        # Registered after apply: the pre-hook runs before the method's UNet hooks (prepend),
        # the hook after its post-hooks, so their work counts as the UNet call's.
        hooks = [
            pipe.unet.register_forward_pre_hook(pre, prepend=True),
            pipe.unet.register_forward_hook(post),
        ]
        try:
            pipe(
                prompt=args.prompt,
                num_frames=frames,
                height=args.size,
                width=args.size,
                num_inference_steps=args.steps,
                guidance_scale=args.guidance,
                generator=torch.Generator().manual_seed(args.seed),
                output_type="latent",
            )
        finally:
            for hook in hooks:
                hook.remove()
    return times, handle


def measure_timing(
    pipes: dict[str, Any], configs: list[Config], args: argparse.Namespace, head: int
) -> list[TimingRow]:
    """Warm-up calls of every configuration, then ``args.repeats`` interleaved rounds."""
    rows = {id(c): TimingRow(c.model, c.method, c.frames) for c in configs}
    for _ in range(args.warmup):
        for c in configs:
            timed_call(pipes[c.model], c.make(), c.frames, args)
    for repeat in range(args.repeats):
        shift = repeat % len(configs)
        for c in configs[shift:] + configs[:shift]:
            times, handle = timed_call(pipes[c.model], c.make(), c.frames, args)
            row = rows[id(c)]
            row.calls = len(times)
            row.active = getattr(handle, "active_calls", None)
            row.first.append(statistics.fmean(times[:head]))
            row.whole.append(statistics.fmean(times))
    out = list(rows.values())
    plain = {(r.model, r.frames): r for r in out if r.method == PLAIN}
    for row in out:
        base = plain[(row.model, row.frames)]
        row.first_ratio = [a / b for a, b in zip(row.first, base.first, strict=True)]
        row.whole_ratio = [a / b for a, b in zip(row.whole, base.whole, strict=True)]
    return out


def format_timing(rows: list[TimingRow], head: int) -> list[str]:
    """The timing table; medians over the timed repeats."""
    first = f"first {head}"
    header = (
        f"{'model':<21}{'method':<37}{'frames':>6}{'UNet calls':>11}{'BTW active':>11}"
        f"{'ms/call ' + first:>18}{'ms/call all':>13}{'x plain ' + first:>18}{'x plain all':>13}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lead = f"{r.model:<21}{r.method:<37}{r.frames:>6}"
        if r.skipped:
            lines.append(f"{lead}   {r.skipped}")
            continue
        active = "-" if r.active is None else str(r.active)
        lines.append(
            f"{lead}{r.calls:>11}{active:>11}"
            f"{statistics.median(r.first) * 1e3:>18.2f}{statistics.median(r.whole) * 1e3:>13.2f}"
            f"{statistics.median(r.first_ratio):>18.3f}{statistics.median(r.whole_ratio):>13.3f}"
        )
    return lines


def ratio_lines(rows: list[TimingRow], head: int, steps: int, window: int) -> list[str]:
    """One summary line per model: ByTheWay and FreeLong per UNet call relative to plain."""
    by = {r.key: r for r in rows if not r.skipped}
    lines = []
    for r in rows:
        if r.skipped:
            lines.append(f"ByTheWay on {r.model}: {r.skipped}")
            continue
        if r.method == BYTHEWAY:
            all_ = by[(r.model, BYTHEWAY_ALL, r.frames)]
            tsg = by[(r.model, BYTHEWAY_TSG, r.frames)]
            lines.append(
                f"ByTheWay/plain per UNet call, {r.model}, {r.frames} frames: "
                f"{statistics.median(r.first_ratio):.3f} over the active steps (first {head} of "
                f"{steps}), {statistics.median(r.whole_ratio):.3f} over the whole call; "
                f"fraction=1.0: {statistics.median(all_.whole_ratio):.3f}; fraction=1.0 "
                f"guide_block=0 (TSG too): {statistics.median(tsg.whole_ratio):.3f}"
            )
        elif r.method == FREELONG:
            lines.append(
                f"FreeLong/plain per UNet call, {r.model}, {r.frames} frames, window {window}: "
                f"{statistics.median(r.whole_ratio):.3f} (every step)"
            )
    return lines


# --------------------------------------------------------------------------- 2. the zoo


@dataclass
class ZooRow:
    """One zoo arm: UNet calls of each pass (``expected`` from the schedule), their total from
    the call counter, and ByTheWay's active calls (None without ByTheWay)."""

    name: str
    expected: list[int]
    passes: list[int] = field(default_factory=list)
    counted: int = 0
    active: int | None = None
    expected_active: int | None = None

    @property
    def ok(self) -> bool:
        return (
            self.passes == self.expected
            and self.counted == sum(self.expected)
            and self.active == self.expected_active
        )


def pick_mid_step(pipe, steps: int) -> tuple[int, int]:
    """FreqPrior's ``(mid_step, its index)``: the timestep of the pipeline's schedule at
    ``steps`` nearest the official 321, after the first (ties: the earlier, noisier one)."""
    from freqlab.freqprior import _inference_schedule, mid_step_index

    timesteps = [float(t) for t in _inference_schedule(pipe.scheduler, steps).timesteps]
    if len(timesteps) < 2:
        raise SystemExit("FreqPrior needs at least 2 inference steps (--zoo-steps)")
    mid = round(min(timesteps[1:], key=lambda t: abs(t - OFFICIAL_MID_STEP)))
    return mid, mid_step_index(mid, timesteps, type(pipe.scheduler).__name__)


def run_zoo(pipe, args: argparse.Namespace) -> tuple[list[ZooRow], int, int]:
    """Every zoo arm once on ``pipe``: ``(rows, mid_step, mid_index)``."""
    from freqlab import ByTheWay, FreeInit, FreeU, FreqPrior
    from freqlab.models import get_model_spec
    from freqlab.sampling import CallCounter

    spec = get_model_spec(ANIMATEDIFF)
    steps = args.zoo_steps
    mid_step, mid_index = pick_mid_step(pipe, steps)
    bytheway = ByTheWay(**bytheway_settings(ANIMATEDIFF, args.zoo_frames))
    head = bytheway.active_steps(steps)
    samplers = {
        "FreeInit": (FreeInit(num_iters=NUM_ITERS, **FILTER), [steps] * NUM_ITERS),
        "FreqPrior": (
            FreqPrior(num_iters=NUM_ITERS, mid_step=mid_step, **FILTER),
            [mid_index] * (NUM_ITERS - 1) + [steps],
        ),
    }
    call = dict(
        prompt=args.prompt,
        num_frames=args.zoo_frames,
        height=args.size,
        width=args.size,
        num_inference_steps=steps,
        guidance_scale=args.guidance,
    )
    rows = []
    for name in ZOO:
        parts = name.split(" + ")
        sampler, expected = samplers.get(parts[0], (None, [steps]))
        row = ZooRow(name, expected)
        if BYTHEWAY in parts:
            # ByTheWay's step comes from the schedule: the first `head` steps of every pass it
            # runs (a stopped FreqPrior pass runs mid_index of them).
            row.expected_active = sum(min(head, n) for n in expected)
        with ExitStack() as stack:
            if "FreeU" in parts:
                stack.enter_context(FreeU(**spec.freeu).apply(pipe.unet))
            handle = stack.enter_context(bytheway.apply(pipe)) if BYTHEWAY in parts else None
            counter = stack.enter_context(CallCounter(pipe.unet))
            generator = torch.Generator().manual_seed(args.seed)
            if sampler is None:
                pipe(**call, generator=generator, output_type="latent")
                row.passes = [counter.count]
            else:
                row.passes = list(sampler(pipe, generator=generator, **call).unet_calls)
            row.counted = counter.count
            row.active = handle.active_calls if handle is not None else None
        rows.append(row)
    return rows, mid_step, mid_index


def format_zoo(rows: list[ZooRow]) -> list[str]:
    plain = rows[0].counted
    header = (
        f"{'method':<22}{'UNet calls per pass':>21}{'UNet calls':>12}{'expected':>10}"
        f"{'x plain':>9}{'ByTheWay active':>17}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        active = "-" if r.active is None else f"{r.active} ({r.expected_active})"
        lines.append(
            f"{r.name:<22}{' + '.join(map(str, r.passes)):>21}{r.counted:>12}"
            f"{sum(r.expected):>10}{r.counted / plain:>9.2f}{active:>17}"
        )
    return lines


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke-run settings (see docstring)")
    parser.add_argument("--size", type=int, help="height = width in pixels (default 32)")
    parser.add_argument("--frames", type=int, help=f"ByTheWay's frames (default {FRAMES})")
    parser.add_argument(
        "--long-frames", type=int, help=f"FreeLong's frames (default {LONG_FRAMES})"
    )
    parser.add_argument("--window", type=int, help=f"FreeLong's window (default {WINDOW})")
    parser.add_argument("--steps", type=int, help=f"DDIM steps of timed calls (default {STEPS})")
    parser.add_argument("--repeats", type=int, help="timed rounds (default 7)")
    parser.add_argument("--warmup", type=int, help="untimed rounds first (default 1)")
    parser.add_argument("--zoo-frames", type=int, help="the zoo's frames (default 8)")
    parser.add_argument("--zoo-steps", type=int, help=f"the zoo's DDIM steps (default {ZOO_STEPS})")
    parser.add_argument("--no-zoo", dest="zoo", action="store_false", help="skip the zoo")
    parser.add_argument("--guidance", type=float, default=GUIDANCE, help="CFG scale")
    parser.add_argument("--prompt", default=PROMPT)
    parser.add_argument("--seed", type=int, default=SEED)
    # One thread by default, as the other benchmarks: on a shared 2-core machine a second thread
    # stalls whenever another process takes a core.
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)
    quick = QUICK if args.quick else {}
    for key, default in DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, quick.get(key, default))
    if args.frames < 4:
        parser.error("--frames must be >= 4 (ByTheWay's tau = F/2 - 1 >= 1)")
    return args


@dataclass
class Results:
    timing: list[TimingRow]
    zoo: list[ZooRow]
    mid_step: int | None = None
    mid_index: int | None = None


def main(argv: list[str] | None = None) -> Results:
    """Run both parts and print their tables; returns the rows."""
    args = parse_args(argv)
    from freqlab import ByTheWay

    torch.set_num_threads(args.threads)
    pipes = build_models(args.seed)
    print(
        f"torch {torch.__version__}, CPU {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} thread(s), float32"
    )
    head = ByTheWay(**bytheway_settings(ANIMATEDIFF, args.frames)).active_steps(args.steps)
    print(
        f"time per UNet call: {args.size}x{args.size} px, {args.steps} DDIM steps, CFG "
        f"{args.guidance}, seed {args.seed}, {args.warmup} warm-up + {args.repeats} timed "
        f"round(s), configurations interleaved; ByTheWay at {args.frames} frames (tau "
        f"{args.frames // 2 - 1}, active in the first {head} steps at fraction 0.2), FreeLong at "
        f"{args.long_frames} frames (window {args.window})"
    )
    start = time.perf_counter()
    configs, refused = timing_configs(args)
    for row in refused:
        try:
            ByTheWay().sites(pipes[row.model])
        except ValueError as err:
            row.skipped = f"refused: {err}"
        else:
            raise RuntimeError(f"ByTheWay accepted {row.model}; the benchmark expects a refusal")
    timing = measure_timing(pipes, configs, args, head)
    rows = [r for r in timing if r.model == ANIMATEDIFF]
    rows += [r for r in timing + refused if r.model == MODELSCOPE]
    rows += [r for r in timing if r.model == MODELSCOPE_2UP]
    for line in format_timing(rows, head):
        print(line)
    for line in ratio_lines(rows, head, args.steps, args.window):
        print(line)
    results = Results(rows, [])
    if args.zoo:
        zoo, results.mid_step, results.mid_index = run_zoo(pipes[ANIMATEDIFF], args)
        results.zoo = zoo
        print()
        print(
            f"the method zoo on {ANIMATEDIFF}: {args.zoo_frames} frames, {args.size}x{args.size} "
            f"px, {args.zoo_steps} DDIM steps, {NUM_ITERS} passes (butterworth n=4 d0=0.25); "
            f"FreqPrior mid_step {results.mid_step} (index {results.mid_index}); ByTheWay active: "
            "counted (expected)"
        )
        for line in format_zoo(zoo):
            print(line)
        bad = [r.name for r in zoo if not r.ok]
        print("UNet calls as the schedule implies: " + ("yes" if not bad else f"NO for {bad}"))
    print(f"total {time.perf_counter() - start:.1f} s")
    return results


if __name__ == "__main__":
    main()
