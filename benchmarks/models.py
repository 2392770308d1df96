"""Speed and memory of the registry's models, plain sampling vs FreeInit, with random weights.

Run with ``python -m benchmarks.models [--scale tiny|full] [--device cpu|cuda] [--dtype ...]
[--models a,b] [--steps 2] [--num-iters 2]``. Speed and memory do not depend on weight values, so
every model is built with random weights and nothing is downloaded:

* ``--scale full``: the full-size architecture of every component (denoiser, motion adapter,
  text encoder(s), VAE) from :mod:`benchmarks.model_configs` (the published hub configurations),
  on ``--device`` in ``--dtype`` (default: the registry's accelerator dtype on CUDA, float32 on
  CPU; VAEs the registry keeps in float32 stay so), at the model's default size
  (``spec.defaults``: frames, height, width, guidance; ``--size FxHxW`` overrides the sizes,
  checked by each pipeline). Tokenizers are a byte-level CLIP
  tokenizer (ids valid in every vocabulary here). On CPU it refuses unless ``--force``: a full
  model at its default size takes minutes per denoiser call there.
* ``--scale tiny`` (default): the registry's tiny counterparts (same pipeline classes, one layer
  per block, 16-64 channels) on CPU at 8 frames (Wan, HunyuanVideo 1.5: 5, CogVideoX, LTX-Video:
  9, Mochi: 7; ``tiny_size`` in :mod:`benchmarks.model_configs`), 32x32 (Wan 2.2 TI2V: 64x64, its
  VAE x patch is 32); all models in well under a minute. CogVideoX-5b's tiny counterpart is
  tiny_cogvideox (2b's sincos layout) run with the 5b scheduler (no SNR shift).

HunyuanVideo 1.5's pipeline takes no ``guidance_scale``: its ``guider`` component holds it, so the
plain call sets it on a copy of the guider, as the samplers do for each pass. LTX-Video's and
Mochi's sigma schedules are undefined at one step: ``--steps 1`` is refused for them.

Both scales use the registry's scheduler for the model and ``output_type="latent"`` (no decode).
For each model it measures, after one warm-up pass that also records the denoiser's inputs:

* ``call_s``: one denoiser (UNet / transformer) call on the inputs of the pipeline's first step
  (the classifier-free guidance batch included). A pipeline with two experts (Wan 2.2 A14B:
  ``transformer`` above ``boundary_ratio``, ``transformer_2`` below) has both built and timed:
  each expert is called on the first step's inputs (both take the same inputs; which one a step
  runs changes the weights, not the work), ``call_s`` is the mean of the two and ``call_s_each``
  lists each; the table's denoiser column reads ``2x14.288B``;
* ``plain_s``: one plain ``pipe(...)`` call at ``--steps`` steps; ``plain_calls`` denoiser calls
  (of every expert; ``plain_calls_each`` per expert: at few steps and a large shift, as A14B's
  12, every step may fall above the boundary, and the table's notes say when an expert was not
  called in the passes; ``--steps 3`` runs both);
* ``fi_s``: one ``FreeInit(num_iters=--num-iters)`` call (Gaussian filter, defaults) at the same
  steps; ``fi_calls`` denoiser calls;
* each the median of ``--repeats`` runs (default 5 tiny, 1 full; plain and FreeInit alternated);
* ``percall``: FreeInit's overhead per model call, ``(fi_s / fi_calls) / (plain_s /
  plain_calls)``: 1.0 means FreeInit costs exactly its extra model calls; the goal is <= 1.02;
* ``outside``: FreeInit's work outside the model relative to that of its passes run plainly,
  ``(fi_s - fi_model_s) / (num_iters * (plain_s - plain_model_s))`` where ``*_model_s`` is the
  time spent inside denoiser calls (of every expert) (forward hooks; CUDA synchronised). On a large model on a GPU it
  shows what the filter, noise and re-noising add beside text encoding and the scheduler; on
  the tiny models everything is "outside", so it equals ``percall`` roughly;
* ``peak_GB``: on CUDA, ``torch.cuda.max_memory_allocated`` over the three measurements (reset
  after building); on CPU the process's peak resident set size so far (``ru_maxrss``; it only
  grows, so it bounds every model benchmarked before it too).

Timings (``--clock``) are wall clock on CUDA (``torch.cuda.synchronize`` around each) and the
process's CPU time on CPU (it counts the work done even when other processes share the cores;
with several torch threads it sums them, so it exceeds the wall time); they vary with the
machine, so the tests assert none of them.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import math
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from benchmarks.model_configs import BENCH_MODELS, build_component, count_parameters
from freqlab.freeinit import FreeInit
from freqlab.models import MODELS, get_model_spec
from freqlab.models.pretrained import _class as component_class
from freqlab.models.pretrained import build_scheduler, parse_dtype
from freqlab.models.tokenizer import byte_level_clip_tokenizer
from freqlab.sampling import call_parameters, guider_guidance

PROMPT = "a corgi running on the beach"
SEED = 0
PERCALL_GOAL = 1.02
# Call arguments of spec.defaults that are not sizes but change the work done (kept at full
# size; guidance doubles the batch or the calls; guidance_scale_2 is Wan 2.2 A14B's low-noise
# expert's, which could otherwise default to guidance_scale).
CALL_KEYS = ("guidance_scale", "guidance_scale_2", "eta", "fps")
# "cpu": the process's CPU time, which counts the work done even when other processes share the
# cores (the default on CPU); "wall": wall clock (the default on CUDA, synchronised).
# Steps of the FreeInit warm-up pass: 2, the most any model's min_steps asks for (LTX-Video's
# terminal-sigma stretch and Mochi's linear-quadratic sigmas are undefined at one step).
WARMUP_STEPS = 2
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


# --------------------------------------------------------------------------- building


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype) -> Iterator[None]:
    # Parameters are created in the target dtype: a 5.7B text encoder never exists in float32.
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def build_full(name: str, device: torch.device, dtype: torch.dtype) -> Any:
    """The full-size pipeline of registry model ``name`` with random weights on ``device``."""
    spec, model = get_model_spec(name), BENCH_MODELS[name]
    keep32 = {c.name for s in spec.sources.values() for c in s.components if c.dtype == "float32"}
    parts: dict[str, Any] = {}
    for index, (role, (class_name, config)) in enumerate(model.components.items()):
        torch.manual_seed(SEED + index)
        role_dtype = torch.float32 if role in keep32 else dtype
        with torch.device(device), _default_dtype(role_dtype):
            parts[role] = build_component(class_name, config).eval()
    pipe_cls = component_class(spec.pipeline)
    for role, make in model.parts.items():
        parts[role] = make()
    for tok in ("tokenizer", "tokenizer_2"):
        if tok in _init_params(pipe_cls) and tok not in parts:
            parts[tok] = byte_level_clip_tokenizer(model_max_length=model.tokenizer_length)
    # AnimateDiff pipelines build their UNetMotionModel from the UNet and adapter inside
    # __init__: under the same device and dtype. The scheduler is built outside (its tables stay
    # float32 on CPU, as in load_model).
    scheduler = build_scheduler(spec.scheduler)
    with torch.device(device), _default_dtype(dtype):
        pipe = pipe_cls(**parts, scheduler=scheduler, **spec.pipeline_kwargs)
    for module in pipe.components.values():
        if isinstance(module, torch.nn.Module):
            _keep_in_float32(module)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _keep_in_float32(model: torch.nn.Module) -> None:
    """What ``from_pretrained(torch_dtype=...)`` does: the submodules a diffusers model lists in
    ``_keep_in_fp32_modules`` (Wan: rope, time embedder, norms, modulation) stay float32."""
    keep = getattr(model, "_keep_in_fp32_modules", None) or ()
    for name, sub in model.named_modules():
        if any(part in keep for part in name.split(".")):
            sub.to(torch.float32)


def _init_params(cls: type) -> tuple[str, ...]:
    import inspect

    return tuple(inspect.signature(cls.__init__).parameters)


def build_tiny(name: str) -> Any:
    """The tiny counterpart of registry model ``name`` (CPU, float32), with its scheduler."""
    pipe = BENCH_MODELS[name].tiny(seed=SEED)
    pipe.scheduler = build_scheduler(get_model_spec(name).scheduler)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def call_arguments(
    name: str, scale: str, size: tuple[int, int, int] | None = None
) -> dict[str, Any]:
    """Sizes and call arguments: ``size`` (frames, height, width) if given, else the model's
    defaults at full scale and tiny sizes (and the model's ``tiny_call``) otherwise."""
    defaults = get_model_spec(name).defaults
    if size is not None:
        sizes = dict(zip(("num_frames", "height", "width"), size, strict=True))
    elif scale == "full":
        sizes = {key: defaults[key] for key in ("num_frames", "height", "width")}
    else:
        sizes = dict(
            zip(("num_frames", "height", "width"), BENCH_MODELS[name].tiny_size, strict=True)
        )
    extra = BENCH_MODELS[name].tiny_call if scale == "tiny" else {}
    return sizes | {key: defaults[key] for key in CALL_KEYS if key in defaults} | extra


# --------------------------------------------------------------------------- measuring


class ModelTimer:
    """Forward hooks on the denoiser, or on every expert of a two-expert pipeline: number of calls
    (``calls`` in all, ``calls_each`` per module) and seconds spent inside them; keeps the first
    call's inputs (``args``, ``kwargs``, of whichever module ran first) for ``call_s``."""

    def __init__(
        self,
        modules: torch.nn.Module | Sequence[torch.nn.Module],
        cuda: bool,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.modules = [modules] if isinstance(modules, torch.nn.Module) else list(modules)
        self.cuda, self.clock = cuda, clock
        self.calls, self.seconds, self.first = 0, 0.0, None
        self.calls_each = [0] * len(self.modules)
        self._start = 0.0
        self._handles: list[Any] = []

    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def _pre(self, module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        if self.first is None:
            self.first = (args, dict(kwargs))
        self._sync()
        self._start = self.clock()

    def _post(self, module: torch.nn.Module, args: tuple, kwargs: dict, out: Any) -> None:
        self._sync()
        self.seconds += self.clock() - self._start
        self.calls += 1
        # By identity: two experts of one architecture compare equal by nothing else.
        self.calls_each[next(i for i, m in enumerate(self.modules) if m is module)] += 1

    def __enter__(self) -> ModelTimer:
        self.calls, self.seconds = 0, 0.0
        self.calls_each = [0] * len(self.modules)
        self._handles = []
        for module in self.modules:
            self._handles += [
                module.register_forward_pre_hook(self._pre, with_kwargs=True),
                module.register_forward_hook(self._post, with_kwargs=True),
            ]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()


@contextlib.contextmanager
def _guider_scale(pipe: Any, kwargs: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The call arguments for a plain ``pipe(...)``: where the pipeline takes its guidance scale
    from a ``guider`` component (HunyuanVideo 1.5), ``guidance_scale`` moves onto a copy of the
    guider for the call, as the samplers do it for each pass (:func:`freqlab.sampling.
    guider_guidance`), and the pipeline's own guider is put back after."""
    call_kwargs = dict(kwargs)
    scale = guider_guidance(pipe, call_parameters(pipe), call_kwargs)
    if scale is None:
        yield call_kwargs
        return
    guider = pipe.guider
    pipe.guider = guider.new(guidance_scale=scale)
    try:
        yield call_kwargs
    finally:
        pipe.guider = guider


def _timed(fn: Callable[[], Any], cuda: bool, clock: Callable[[], float]) -> float:
    if cuda:
        torch.cuda.synchronize()
    start = clock()
    fn()
    if cuda:
        torch.cuda.synchronize()
    return clock() - start


def _peak_gb(cuda: bool) -> float:
    if cuda:
        return torch.cuda.max_memory_allocated() / 2**30
    # ru_maxrss: kilobytes on Linux, bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**30


def benchmark_model(
    name: str,
    scale: str,
    device: torch.device,
    dtype: torch.dtype,
    steps: int,
    num_iters: int,
    repeats: int,
    size: tuple[int, int, int] | None = None,
    clock: str = "wall",
) -> dict[str, Any]:
    """One row: see the module docstring for the columns. ``size``: (frames, height, width)
    instead of the scale's default sizes."""
    cuda = device.type == "cuda"
    pipe = build_full(name, device, dtype) if scale == "full" else build_tiny(name)
    if scale == "tiny" and (device.type != "cpu" or dtype != torch.float32):
        pipe = pipe.to(device=device, dtype=dtype)  # tiny models are built float32 on CPU
    roles = BENCH_MODELS[name].denoisers
    experts = [getattr(pipe, role) for role in roles]
    kwargs = call_arguments(name, scale, size) | dict(prompt=PROMPT, num_inference_steps=steps)

    def plain() -> Any:
        generator = torch.Generator(device="cpu").manual_seed(SEED)
        with _guider_scale(pipe, kwargs) as call_kwargs:
            return pipe(generator=generator, output_type="latent", **call_kwargs)

    def freeinit() -> Any:
        generator = torch.Generator(device="cpu").manual_seed(SEED)
        return FreeInit(num_iters=num_iters)(pipe, generator=generator, **kwargs)

    tick = CLOCKS[clock]
    timer = ModelTimer(experts, cuda, tick)
    with torch.no_grad():
        # Warm-up of both (lazy initialisation, kernel selection, FreeInit's filter cache); the
        # plain one records the first denoiser call's inputs.
        with timer:
            plain()
        generator = torch.Generator(device="cpu").manual_seed(SEED)
        warmup = kwargs | dict(num_inference_steps=WARMUP_STEPS)
        FreeInit(num_iters=2)(pipe, generator=generator, **warmup)
        args, call_kwargs = timer.first
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        # Every expert on the first step's inputs: the experts share one architecture and one
        # call signature, and an expert the passes never reach (few steps, all above the
        # boundary) is timed all the same.
        call_s_each = [
            statistics.median(
                _timed(lambda m=m: m(*args, **call_kwargs), cuda, tick) for _ in range(repeats)
            )
            for m in experts
        ]
        timer.first = None
        # Alternated, so that load drifts hit both alike; the median run of each by wall time.
        plain_runs, fi_runs = [], []
        for _ in range(repeats):
            with timer:
                seconds = _timed(plain, cuda, tick)
            plain_runs.append((seconds, timer.calls, timer.seconds, tuple(timer.calls_each)))
            with timer:
                seconds = _timed(freeinit, cuda, tick)
            fi_runs.append((seconds, timer.calls, timer.seconds, tuple(timer.calls_each)))
        plain_s, plain_calls, plain_model_s, plain_each = sorted(plain_runs)[(repeats - 1) // 2]
        fi_s, fi_calls, fi_model_s, fi_each = sorted(fi_runs)[(repeats - 1) // 2]
    peak = _peak_gb(cuda)
    percall = (fi_s / fi_calls) / (plain_s / plain_calls)
    outside_plain = plain_s - plain_model_s
    outside = (fi_s - fi_model_s) / (num_iters * outside_plain) if outside_plain > 0 else math.nan
    size = kwargs
    params_each = tuple(count_parameters(m) for m in experts)
    row = dict(
        model=name,
        params=sum(params_each),
        size=f"{size['num_frames']}x{size['height']}x{size['width']}",
        call_s=statistics.fmean(call_s_each),
        plain_s=plain_s,
        plain_calls=plain_calls,
        fi_s=fi_s,
        fi_calls=fi_calls,
        percall=percall,
        outside=outside,
        peak_GB=peak,
        dtype=str(dtype).removeprefix("torch."),
        # Per denoiser (one entry each; two for Wan 2.2 A14B: transformer, transformer_2).
        denoisers=roles,
        params_each=params_each,
        call_s_each=tuple(call_s_each),
        plain_calls_each=plain_each,
        fi_calls_each=fi_each,
    )
    return row


def _count(n: int) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.{3 if unit == 'B' else 1}f}{unit}"
    return str(n)


def _params(row: dict[str, Any]) -> str:
    """The denoiser column: ``1.419B``, or ``2x14.288B`` for two experts of one size."""
    each = row.get("params_each", (row["params"],))
    if len(each) > 1 and len(set(each)) == 1:
        return f"{len(each)}x{_count(each[0])}"
    return _count(row["params"])


def expert_notes(rows: list[dict[str, Any]]) -> list[str]:
    """A line for each expert that a row's passes never called (its ``call_s`` is still timed)."""
    notes = []
    for r in rows:
        for role, plain, fi in zip(
            r.get("denoisers", ()),
            r.get("plain_calls_each", ()),
            r.get("fi_calls_each", ()),
            strict=True,
        ):
            if plain == 0 or fi == 0:
                notes.append(
                    f"note: {r['model']}: {role} was not called in the "
                    f"{'plain and FreeInit' if plain == fi == 0 else 'plain or FreeInit'} passes "
                    "(every step on the other side of boundary_ratio; more --steps reach it); "
                    "its call_s is timed on the first step's inputs all the same"
                )
    return notes


def format_table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'model':18s} {'denoiser':>9s} {'FxHxW':>12s} {'call_s':>8s} {'plain_s':>8s} "
        f"{'calls':>5s} {'fi_s':>8s} {'calls':>5s} {'percall':>8s} {'outside':>8s} "
        f"{'peak_GB':>8s}"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"{r['model']:18s} {_params(r):>9s} {r['size']:>12s} {r['call_s']:8.3f} "
            f"{r['plain_s']:8.3f} {r['plain_calls']:5d} {r['fi_s']:8.3f} {r['fi_calls']:5d} "
            f"{r['percall']:8.3f} {r['outside']:8.3f} {r['peak_GB']:8.2f}"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.models", description=__doc__)
    parser.add_argument("--scale", choices=("tiny", "full"), default="tiny")
    parser.add_argument(
        "--device", default=None, help="cpu or cuda (default: cpu for tiny, cuda for full)"
    )
    parser.add_argument(
        "--dtype",
        default=None,
        help="float32, float16, bfloat16 (default: "
        "float32 for tiny; the registry's accelerator dtype for full on CUDA)",
    )
    parser.add_argument(
        "--models",
        default=None,
        help=f"comma-separated registry names (default: all of {', '.join(BENCH_MODELS)})",
    )
    parser.add_argument(
        "--size",
        default=None,
        help="FxHxW, e.g. 17x480x832, instead of each model's default size (full) or the tiny size",
    )
    parser.add_argument("--steps", type=int, default=2, help="sampling steps per pass")
    parser.add_argument("--num-iters", type=int, default=2, help="FreeInit passes")
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="runs of each measurement (median; default 5 tiny, 1 full)",
    )
    parser.add_argument(
        "--clock",
        choices=tuple(CLOCKS),
        default=None,
        help="wall (default on CUDA) or cpu: process CPU time (default on CPU)",
    )
    parser.add_argument("--force", action="store_true", help="run --scale full on CPU anyway")
    return parser.parse_args(argv)


def run(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Parse ``argv``, benchmark the models, print and return the rows."""
    args = parse_args(argv)
    names = args.models.split(",") if args.models else list(BENCH_MODELS)
    unknown = [n for n in names if n not in BENCH_MODELS]
    if unknown:
        registered = [n for n in unknown if n in MODELS]
        hint = (
            f" ({', '.join(registered)}: registered, but without a full configuration yet; add a "
            "BenchModel in benchmarks/model_configs.py)"
            if registered
            else ""
        )
        raise SystemExit(
            f"unknown model(s) {', '.join(unknown)}{hint}; known: {', '.join(BENCH_MODELS)}"
        )
    device = torch.device(args.device or ("cuda" if args.scale == "full" else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here (try --scale tiny --device cpu)")
    if args.scale == "full" and device.type == "cpu" and not args.force:
        raise SystemExit(
            "--scale full on CPU: the full-size models (up to two 14.3B-parameter experts, "
            "Wan 2.2 A14B's, and the 5.7B UMT5 text encoder) take minutes per denoiser call "
            "and tens of GB here; run it with "
            "--device cuda on a GPU, use --scale tiny, or pass --force to run it anyway."
        )
    too_few = [n for n in names if args.steps < BENCH_MODELS[n].min_steps]
    if too_few:
        least = max(BENCH_MODELS[n].min_steps for n in too_few)
        raise SystemExit(
            f"--steps {args.steps}: the sampling schedules of {', '.join(too_few)} are undefined "
            f"at so few steps (min_steps in benchmarks/model_configs.py); use --steps {least} "
            "or more"
        )
    size = tuple(int(v) for v in args.size.lower().split("x")) if args.size else None
    if size is not None and len(size) != 3:
        raise SystemExit(f"--size must be FxHxW (frames x height x width), got {args.size!r}")
    clock = args.clock or ("wall" if device.type == "cuda" else "cpu")
    repeats = args.repeats or (5 if args.scale == "tiny" else 1)
    rows = []
    for name in names:
        spec = get_model_spec(name)
        if args.dtype is not None:
            dtype = parse_dtype(args.dtype)
        elif args.scale == "full" and device.type == "cuda":
            dtype = spec.accelerator_dtype
        else:
            dtype = torch.float32
        rows.append(
            benchmark_model(
                name, args.scale, device, dtype, args.steps, args.num_iters, repeats, size, clock
            )
        )
        gc.collect()  # the model built for the row is unreachable now: free it before the next
        if device.type == "cuda":
            torch.cuda.empty_cache()
    machine = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    print(
        f"== benchmarks.models: scale {args.scale}, {device.type} ({machine or platform.machine()}, "
        f"{torch.get_num_threads()} threads), {args.steps} steps per pass, FreeInit "
        f"num_iters={args.num_iters}, {clock} clock, dtypes {sorted({r['dtype'] for r in rows})}"
    )
    print(format_table(rows))
    for note in expert_notes(rows):
        print(note)
    worst = max(r["percall"] for r in rows)
    verdict = "OK" if worst <= PERCALL_GOAL else "above goal"
    print(f"percall goal <= {PERCALL_GOAL}: worst {worst:.3f} ({verdict})")
    return rows


def main(argv: list[str] | None = None) -> None:
    from diffusers.utils import logging as diffusers_logging

    # Random-weight builds trigger diffusers' dtype-cast and deprecation notices on every model.
    diffusers_logging.set_verbosity_error()
    run(argv)


if __name__ == "__main__":
    main()
