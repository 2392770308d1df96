"""FreeNoise vs plain sampling at 32 and 64 frames: wall time per UNet call and peak memory.

Run with ``python -m benchmarks.freenoise [--quick] [--model testbed] [--frames 32 64] ...``. For
every frame count it samples one video (latents only, no VAE decoding) with:

* plain sampling, ``pipe(..., num_frames=F)``, where the model can: an AnimateDiff motion module
  adds sinusoidal positional embeddings of ``max_seq_length`` positions (read from the UNet's
  ``SinusoidalPositionalEmbedding`` buffers: 32 for the testbed and tiny AnimateDiff, 32 for
  AnimateDiff v2, 24 for v1), and more frames fail inside the UNet, so the table says "cannot run"
  there instead of sampling;
* ``freqlab.FreeNoise(context_length=16, context_stride=4).apply(pipe)``: windowed temporal
  attention (windows of 16 frames every 4, pyramid weights) and rescheduled noise.

**Time**: the median over ``--repeats`` calls (after ``--warmup`` untimed ones) of the call's wall
time divided by its UNet forward calls (counted with a forward pre-hook on ``pipe.unet``; one call
covers both CFG halves); the call's time includes prompt encoding and the scheduler, a small share.
Columns also give it per frame, so that FreeNoise at 64 frames can be set against plain at 32.

**Memory**: each configuration runs in its own subprocess, because a process's peak is a
high-water mark that one configuration would leave for the next. On CPU, tracemalloc does not see
torch's allocations, so the peak is the process's resident set: ``ru_maxrss`` (getrusage) after
sampling minus ``ru_maxrss`` after the model is loaded, i.e. what sampling (warm-up and timed
calls, all of this configuration) added to the loaded process's high-water mark. It is an
honest lower bound of sampling's working memory, not an exact one: memory the allocator freed
while loading (state dicts, imports) can be reused without raising the mark, and RSS counts
pages, not tensors. The absolute peak RSS (imports, model and sampling) is printed beside it.
On CUDA the peak is ``torch.cuda.max_memory_allocated()`` during sampling minus the memory
allocated before it (tensors only, exact; the caching allocator's reserve is not counted).

Ratios FreeNoise / plain are printed for the frame counts where plain sampling runs, all measured
in this run on this machine. ``--quick``: 16 x 16 pixels, 2 steps, 1 timed call, no warm-up (a
smoke run); explicit options still override it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "a red circle moving left on a gray background"  # a testbed caption
SEED = 0
FRAMES = (32, 64)
STEPS = 10  # enough calls per run for a stable per-call time; the steps are all alike
GUIDANCE = 7.5
CONTEXT_LENGTH = 16
CONTEXT_STRIDE = 4
QUICK = dict(size=16, steps=2, repeats=1, warmup=0)
PLAIN, FREENOISE = "plain", "FreeNoise"
_RESULT = "RESULT "  # prefix of the worker's result line on stdout


@dataclass
class Result:
    """One configuration: ``seconds_per_call`` (median), ``calls`` per pipeline call, ``peak_mib``
    (sampling's peak over the loaded process, see the module docstring), ``rss_mib`` (absolute
    peak RSS, CPU only), or ``skipped`` (why it did not run)."""

    method: str
    frames: int
    calls: int = 0
    seconds_per_call: float = 0.0
    peak_mib: float = 0.0
    rss_mib: float | None = None
    max_seq_length: int | None = None
    skipped: str | None = None
    device: str = ""  # what the worker ran on, in words
    cuda: bool = False  # peak_mib is CUDA allocated memory (else an RSS delta)


# --------------------------------------------------------------------------- the worker


def max_seq_length(unet) -> int | None:
    """The fewest positions of the UNet's sinusoidal positional embeddings (AnimateDiff motion
    modules: frames beyond it fail); None without one (e.g. ModelScope's UNet3D)."""
    from diffusers.models.embeddings import SinusoidalPositionalEmbedding

    lengths = [
        int(m.pe.shape[1]) for m in unet.modules() if isinstance(m, SinusoidalPositionalEmbedding)
    ]
    return min(lengths) if lengths else None


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_config(config: dict[str, Any]) -> Result:
    """Load the model and sample one configuration in this process (the subprocess's job)."""
    import torch

    from freqlab import FreeNoise
    from freqlab.models import get_model_spec, load_model

    torch.set_num_threads(config["threads"])
    pipe = load_model(config["model"], device=config["device"], dtype=config["dtype"])
    method, frames = config["method"], config["frames"]
    size = config["size"] or get_model_spec(config["model"]).defaults["height"]
    cuda = pipe.device.type == "cuda"
    where = (
        torch.cuda.get_device_name(pipe.device)
        if cuda
        else f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} thread(s)"
    )
    device = f"{where}, {pipe.dtype}, {size}x{size}, torch {torch.__version__}"
    limit = max_seq_length(pipe.unet)
    if method == PLAIN and limit is not None and frames > limit:
        return Result(
            method,
            frames,
            max_seq_length=limit,
            skipped=f"cannot run: {frames} frames > max_seq_length {limit}",
            device=device,
            cuda=cuda,
        )
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _rss_mib()
    counted = []
    hook = pipe.unet.register_forward_pre_hook(lambda module, args: counted.append(1))
    freenoise = (
        FreeNoise(context_length=config["context_length"], context_stride=config["context_stride"])
        if method == FREENOISE
        else None
    )
    per_call, calls = [], 0
    try:
        with freenoise.apply(pipe) if freenoise else nullcontext():
            for i in range(config["warmup"] + config["repeats"]):
                counted.clear()
                if cuda:
                    torch.cuda.synchronize()
                start = time.perf_counter()
                pipe(
                    prompt=config["prompt"],
                    num_frames=frames,
                    height=size,
                    width=size,
                    num_inference_steps=config["steps"],
                    guidance_scale=config["guidance"],
                    generator=torch.Generator().manual_seed(config["seed"]),
                    output_type="latent",
                )
                if cuda:
                    torch.cuda.synchronize()
                seconds = time.perf_counter() - start
                calls = len(counted)
                if i >= config["warmup"]:
                    per_call.append(seconds / calls)
    finally:
        hook.remove()
    if cuda:
        peak, rss = (torch.cuda.max_memory_allocated() - base) / 2**20, None
    else:
        rss = _rss_mib()
        peak = rss - base
    return Result(
        method,
        frames,
        calls=calls,
        seconds_per_call=statistics.median(per_call),
        peak_mib=peak,
        rss_mib=rss,
        max_seq_length=limit,
        device=device,
        cuda=cuda,
    )


def spawn(config: dict[str, Any]) -> Result:
    """:func:`run_config` in a fresh ``python -m benchmarks.freenoise --worker`` process."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.freenoise", "--worker", json.dumps(config)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith(_RESULT)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"worker for {config['method']} at {config['frames']} frames failed "
            f"(exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    return Result(**json.loads(lines[-1][len(_RESULT) :]))


# --------------------------------------------------------------------------- the table


def format_table(results: list[Result], memory: str) -> list[str]:
    """The table's lines, and a FreeNoise / plain ratio line per frame count where both ran."""
    header = (
        f"{'method':<11}{'frames':>7}{'UNet calls':>12}{'ms / call':>11}{'ms / call / frame':>19}"
        f"{memory:>20}{'peak RSS MiB':>14}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        if r.skipped:
            lines.append(f"{r.method:<11}{r.frames:>7}   {r.skipped}")
            continue
        rss = f"{r.rss_mib:.0f}" if r.rss_mib is not None else "-"
        lines.append(
            f"{r.method:<11}{r.frames:>7}{r.calls:>12}{r.seconds_per_call * 1e3:>11.2f}"
            f"{r.seconds_per_call * 1e3 / r.frames:>19.3f}{r.peak_mib:>20.1f}{rss:>14}"
        )
    by_key = {(r.method, r.frames): r for r in results if not r.skipped}
    for frames in sorted({r.frames for r in results}):
        plain, ours = by_key.get((PLAIN, frames)), by_key.get((FREENOISE, frames))
        if plain is None or ours is None:
            lines.append(f"FreeNoise/plain at {frames} frames: n/a (plain sampling cannot run)")
            continue
        memory_ratio = (
            f"{ours.peak_mib / plain.peak_mib:.2f}" if plain.peak_mib > 0 else "n/a (plain peak 0)"
        )
        lines.append(
            f"FreeNoise/plain at {frames} frames: time per UNet call "
            f"{ours.seconds_per_call / plain.seconds_per_call:.2f}, peak memory {memory_ratio}"
        )
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="testbed", help="freqlab model name (AnimateDiff)")
    parser.add_argument("--quick", action="store_true", help="smoke-run settings (see docstring)")
    parser.add_argument("--frames", nargs="+", type=int, default=list(FRAMES))
    parser.add_argument("--size", type=int, help="height = width in pixels (default: the model's)")
    parser.add_argument("--steps", type=int, help=f"DDIM steps per call (default {STEPS})")
    parser.add_argument("--repeats", type=int, help="timed calls per configuration (default 3)")
    parser.add_argument("--warmup", type=int, help="untimed calls first (default 1)")
    parser.add_argument("--guidance", type=float, default=GUIDANCE, help="CFG scale")
    parser.add_argument("--prompt", default=PROMPT)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--context-length", type=int, default=CONTEXT_LENGTH)
    parser.add_argument("--context-stride", type=int, default=CONTEXT_STRIDE)
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda")
    parser.add_argument("--dtype", help="weight dtype (fp16, bf16, ...; default: the model's)")
    # One thread by default, as benchmarks.freeinit: on a shared 2-core machine a second thread
    # stalls whenever another process takes a core.
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # a JSON config: run it, print JSON
    args = parser.parse_args(argv)
    quick = QUICK if args.quick else {}
    defaults = dict(steps=STEPS, repeats=3, warmup=1)
    for key in ("size", "steps", "repeats", "warmup"):
        if getattr(args, key) is None:
            setattr(args, key, quick.get(key, defaults.get(key)))
    return args


def main(argv: list[str] | None = None) -> list[Result]:
    """Run every configuration in its own process and print the table; returns the results."""
    args = parse_args(argv)
    if args.worker:
        result = run_config(json.loads(args.worker))
        print(_RESULT + json.dumps(result.__dict__), flush=True)
        return [result]
    # The parent imports no torch: every configuration's process reports its own device.
    base = dict(
        model=args.model,
        device=args.device,
        dtype=args.dtype,
        threads=args.threads,
        prompt=args.prompt,
        seed=args.seed,
        size=args.size,
        steps=args.steps,
        guidance=args.guidance,
        repeats=args.repeats,
        warmup=args.warmup,
        context_length=args.context_length,
        context_stride=args.context_stride,
    )
    print(
        f"model {args.model}, {args.steps} DDIM steps, CFG {args.guidance}, seed {args.seed}, "
        f"{args.warmup} warm-up + {args.repeats} timed call(s); FreeNoise context_length "
        f"{args.context_length}, stride {args.context_stride}, pyramid; one process per "
        "configuration"
    )
    start = time.perf_counter()
    results: list[Result] = []
    for frames in args.frames:
        for method in (PLAIN, FREENOISE):
            # The limit read by an earlier worker spares a process that would only report it.
            limit = next((r.max_seq_length for r in results), None)
            if method == PLAIN and limit is not None and frames > limit:
                reason = f"cannot run: {frames} frames > max_seq_length {limit}"
                results.append(Result(method, frames, max_seq_length=limit, skipped=reason))
            else:
                results.append(spawn(dict(base, method=method, frames=frames)))
    cuda = any(r.cuda for r in results)
    print(f"device: {results[0].device}")
    print(
        "memory: "
        + (
            "torch.cuda.max_memory_allocated during sampling minus allocated before it"
            if cuda
            else "ru_maxrss after sampling minus after loading (a lower bound, see the docstring)"
        )
    )
    memory = "peak alloc MiB" if cuda else "peak RSS + MiB"
    for line in format_table(results, memory):
        print(line)
    print(f"total {time.perf_counter() - start:.1f} s")
    return results


if __name__ == "__main__":
    main()
