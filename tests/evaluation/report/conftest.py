"""Synthetic sweeps for the report's tests: results files shaped like the runner's, with their
job folders and videos. Fixtures return the builders (conftest modules are not importable)."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

DINO = "dino_consistency[dino_vits16]"
PROMPTS = tuple(f"ucf101/Class{i:02d}" for i in range(12))


def _noise(*parts: object) -> float:
    """A deterministic N(0, 1) draw per key (no global RNG, no hash randomisation)."""
    return float(np.random.default_rng(zlib.crc32(repr(parts).encode())).standard_normal())


def _gif(path: Path, shade: int) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    frames = [Image.new("RGB", (32, 16), (shade, 40 * t % 256, 90)) for t in range(4)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=125, loop=0)


def _mp4(path: Path, shade: int) -> None:
    import torch

    from freqlab.video.write import save_video

    frames = torch.full((4, 3, 16, 32), shade / 255.0)
    frames[:, 1] = torch.arange(4).view(4, 1, 1) / 4.0
    save_video(frames, path, 8)


def make_rows(
    *,
    model: str = "animatediff_v1",
    dataset: str = "ucf101",
    method: str = "gaussian",
    d0: float = 0.25,
    num_iters: int = 5,
    fast: bool = False,
    freeu: bool = False,
    prompts: tuple[str, ...] = PROMPTS,
    seeds: tuple[int, ...] = (0,),
    steps: int = 25,
    gain: float = 6.0,
    cache: Path | None = None,
    job: Path | None = None,
) -> pd.DataFrame:
    """Results rows shaped like experiments.generate's: consistency rises by ``gain`` over the
    passes, motion falls; a coarse pass 0 (fast sampling) is 10 points worse.

    Videos: with ``job``, as the runner writes them now (``videos/<sample>/`` in the job folder,
    paths relative to it, an MP4 per pass and the comparison GIF of multi-pass samples); with
    ``cache``, as older results files hold them (absolute paths, GIFs only)."""
    out = []
    identity = (model, dataset, method, d0, num_iters, fast, freeu)
    for prompt in prompts:
        for seed in seeds:
            key = f"{zlib.crc32(repr((identity, prompt, seed)).encode()):08x}"
            base = 80 + 5 * _noise(model, dataset, prompt, seed) + (3 if freeu else 0)
            last = num_iters - 1
            gif = f"iter0_vs_iter{last}.gif" if last else None
            if cache is not None:
                folder = cache / key
                if gif:
                    _gif(folder / gif, int(base) % 256)
            elif job is not None:
                folder = Path("videos") / key
                for k in range(num_iters):
                    _mp4(job / folder / f"iter{k}.mp4", int(base) % 256)
                if gif:
                    _gif(job / folder / gif, int(base) % 256)
            else:
                folder = None
            for k in range(num_iters):
                coarse = fast and k < last
                n_steps = max(1, int(steps / num_iters * (k + 1))) if fast else steps
                value = base + (gain * k / max(last, 1) + 0.5 * _noise(key, k) if k else 0)
                out.append(
                    dict(
                        sample_key=key,
                        prompt_id=prompt,
                        prompt=f"a video of {prompt}",
                        seed=seed,
                        is_final=k == last,
                        model=model,
                        dataset=dataset,
                        method=method,
                        d_s=d0,
                        d_t=d0,
                        order=4,
                        num_iters=num_iters,
                        fast_sampling=fast,
                        variance_preserving=False,
                        rng="per_sample",
                        freeu=freeu,
                        b1=1.2 if freeu else None,
                        b2=1.4 if freeu else None,
                        s1=0.9 if freeu else None,
                        s2=0.2 if freeu else None,
                        freeu_variant="v1" if freeu else None,
                        freeu_stages="diffusers" if freeu else None,
                        num_frames=16,
                        height=512,
                        width=512,
                        num_inference_steps=steps,
                        guidance_scale=7.5,
                        dtype="float32",
                        iteration=k,
                        steps=n_steps,
                        **{DINO: value - (10 if coarse and k == 0 else 0)},
                        motion=0.2 - 0.01 * k + 0.01 * _noise("m", key),
                        video_path=str(folder / f"iter{k}.mp4") if folder else None,
                        comparison_path=str(folder / gif) if folder and gif else None,
                    )
                )
    return pd.DataFrame(out)


def write_results_job(job: Path, frame: pd.DataFrame, overrides: list[str] = ()) -> Path:
    (job / ".hydra").mkdir(parents=True, exist_ok=True)
    frame.to_parquet(job / "results.parquet", index=False)
    (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    (job / ".hydra" / "config.yaml").write_text("task: generate\nseed: 0\n")
    n = frame.sample_key.nunique()
    summary = dict(samples=n, generated=n, cached=0, unet_calls=int(frame.steps.sum()), seconds=1)
    (job / "job.json").write_text(json.dumps(summary))
    return job


@pytest.fixture
def rows():
    """:func:`make_rows`: results rows of one setting (12 UCF-101 prompts by default)."""
    return make_rows


@pytest.fixture
def write_job():
    """:func:`write_results_job`: a job folder with results, Hydra overrides and job.json."""
    return write_results_job


@pytest.fixture
def prompts():
    """The prompt ids :func:`make_rows` uses by default."""
    return PROMPTS
