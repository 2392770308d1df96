"""FreeInit sampler vs diffusers' ``enable_free_init``, on the tiny AnimateDiff pipeline (CPU).

Run with ``python -m benchmarks.freeinit``. In one process, with the same pipeline, settings and
seeds, it times:

* ``freqlab.freeinit.FreeInit(num_iters=3, method="butterworth", rng="diffusers")``;
* ``pipe.enable_free_init(num_iters=3)`` + ``pipe(..., output_type="latent")``;

after a warm-up of each, alternating the two so that machine load drifts hit both alike, and
reports the median wall and process CPU times and their ratios (target <= 1.0: our filter is built once and cached, while
diffusers rebuilds it in a per-element Python loop every refinement pass; we re-encode the prompt
every pass), the max abs difference of the results and the UNet call counts. With one torch
thread (the default) the process CPU time measures the work done even when other processes share
the cores, so the target is judged on it; wall time is shown beside it.

It then shows that one 5-pass run yields the results of num_iters = 1..5: ``latents[k]`` of the
5-pass run equals the final latents of a separate (k+1)-pass run, for 5 passes instead of
1+2+3+4+5 = 15 (smaller settings, since it runs all 20 passes to check).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch

from freqlab.freeinit import FreeInit
from freqlab.models import load_model

# Few UNet steps, one prompt: the tiny UNet is cheap, so per-pass overheads (diffusers' filter
# loop over 16x16x16 bins, our prompt re-encoding) are a visible share of the run.
TIMED = dict(
    prompt="a corgi running on the beach",
    num_frames=16,
    height=64,
    width=64,
    num_inference_steps=2,
    guidance_scale=7.5,
)
PASSES = dict(
    prompt="a corgi running on the beach",
    num_frames=8,
    height=32,
    width=32,
    num_inference_steps=3,
    guidance_scale=7.5,
)
SEED = 42
NUM_ITERS = 3
RATIO_TARGET = 1.0


def count_unet_calls(pipe, fn: Callable[[], object]):
    """``(fn(), number of pipe.unet forward calls during it)``."""
    calls = []
    handle = pipe.unet.register_forward_pre_hook(lambda module, args: calls.append(1))
    try:
        out = fn()
    finally:
        handle.remove()
    return out, len(calls)


def run_ours(pipe, kwargs: dict) -> torch.Tensor:
    fi = FreeInit(num_iters=NUM_ITERS, method="butterworth", rng="diffusers")
    return fi(pipe, generator=torch.Generator().manual_seed(SEED), **kwargs).final


def run_diffusers(pipe, kwargs: dict) -> torch.Tensor:
    pipe.enable_free_init(num_iters=NUM_ITERS)  # butterworth, order 4, 0.25 / 0.25
    try:
        generator = torch.Generator().manual_seed(SEED)
        return pipe(generator=generator, output_type="latent", **kwargs).frames
    finally:
        pipe.disable_free_init()


def timed(fn: Callable[[], torch.Tensor]) -> tuple[float, float, torch.Tensor]:
    """``(wall seconds, process CPU seconds, fn())``."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def describe(kwargs: dict) -> str:
    prompts = kwargs["prompt"] if isinstance(kwargs["prompt"], list) else [kwargs["prompt"]]
    return (
        f"{len(prompts)} prompt(s), {kwargs['num_frames']} frames, "
        f"{kwargs['height']}x{kwargs['width']}, {kwargs['num_inference_steps']} DDIM steps, "
        f"CFG {kwargs['guidance_scale']}"
    )


def benchmark_speed(pipe, repeats: int) -> None:
    print(f"== FreeInit(num_iters={NUM_ITERS}, butterworth, rng='diffusers') vs enable_free_init")
    print(f"settings: {describe(TIMED)}, seed {SEED}")
    samplers = {"ours": run_ours, "ref": run_diffusers}
    outs, calls = {}, {}
    for key, fn in samplers.items():  # warm-up, counting UNet calls
        outs[key], calls[key] = count_unet_calls(pipe, lambda fn=fn: fn(pipe, TIMED))
    times = {"ours": ([], []), "ref": ([], [])}  # (wall, cpu) per run
    for _ in range(repeats):
        for key, fn in samplers.items():
            wall, cpu, outs[key] = timed(lambda fn=fn: fn(pipe, TIMED))
            times[key][0].append(wall)
            times[key][1].append(cpu)
    med = {k: (statistics.median(w), statistics.median(c)) for k, (w, c) in times.items()}
    for key, label in (("ours", "freqlab FreeInit       "), ("ref", "diffusers FreeInitMixin")):
        walls = [round(t, 3) for t in times[key][0]]
        print(f"{label} : median wall {med[key][0]:.3f} s, CPU {med[key][1]:.3f} s; walls {walls}")
    wall_ratio = med["ours"][0] / med["ref"][0]
    cpu_ratio = med["ours"][1] / med["ref"][1]
    verdict = "OK" if cpu_ratio <= RATIO_TARGET else "above target"
    print(
        f"ratio freqlab/diffusers : wall {wall_ratio:.3f}, CPU {cpu_ratio:.3f} "
        f"(target <= {RATIO_TARGET} on CPU time: {verdict})"
    )
    print(f"UNet calls per run      : freqlab {calls['ours']}, diffusers {calls['ref']}")
    diff = (outs["ours"] - outs["ref"]).abs().max().item()
    print(f"max |freqlab - diffusers| latents: {diff:.3g}")


def benchmark_passes(pipe) -> None:
    print("== one 5-pass run gives num_iters = 1..5")
    print(f"settings: {describe(PASSES)}, seed {SEED}, gaussian, rng='per_sample'")

    def run(num_iters: int):
        fi = FreeInit(num_iters=num_iters)
        return fi(pipe, generator=torch.Generator().manual_seed(SEED), **PASSES)

    start = time.perf_counter()
    full, full_calls = count_unet_calls(pipe, lambda: run(5))
    full_s = time.perf_counter() - start
    separate_calls, separate_s, diffs = 0, 0.0, []
    for n in range(1, 6):
        start = time.perf_counter()
        result, calls = count_unet_calls(pipe, lambda n=n: run(n))
        separate_s += time.perf_counter() - start
        separate_calls += calls
        diffs.append((full.latents[n - 1] - result.final).abs().max().item())
    print(f"one 5-pass run          : 5 passes, {full_calls} UNet calls, {full_s:.2f} s")
    print(f"separate runs 1..5      : 15 passes, {separate_calls} UNet calls, {separate_s:.2f} s")
    print(f"max |latents[k] - final of (k+1)-pass run|, k=0..4: {[f'{d:.3g}' for d in diffs]}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each sampler")
    # One thread by default: on a shared 2-core machine, two threads stall whenever another
    # process takes a core, and those stalls (seconds) swamp the differences measured here.
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads, CPU, tiny_animatediff"
    )
    pipe = load_model("tiny_animatediff")
    start = time.perf_counter()
    benchmark_speed(pipe, args.repeats)
    benchmark_passes(pipe)
    print(f"total {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
