"""The generation job in-process, on the testbed at tiny size: what it caches, shares and redoes.

UNet calls are counted twice: by the job (``job.json``) and by an independent forward pre-hook
installed on every UNet the job loads.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pandas as pd
import pytest
import torch

import experiments.generate as generate
from experiments.cache import PassCache

TINY = [
    "model=testbed",
    "dataset=shapes",
    "dataset.limit=2",
    "model.num_frames=4",
    "model.num_inference_steps=2",
    "logger=none",
    "report=false",
    "device=cpu",
    # model=testbed brings metrics=testbed, whose judge reads 8-frame videos only: at 4 frames,
    # the pixel metrics (test_the_default_job_reports_the_judges_metrics runs the judge's).
    "metrics=pixel",
]


@pytest.fixture
def run(job_config):
    """``run(root, name, *overrides) -> (summary, results frame, output folder)``."""

    def run_job(root: Path, name: str, *overrides: str) -> tuple[dict, pd.DataFrame, Path]:
        return _run(job_config(root, name, [*TINY, *overrides]), root / name)

    return run_job


def _run(cfg, out: Path) -> tuple[dict, pd.DataFrame, Path]:
    summary = generate.run_generate(cfg)
    assert json.loads((out / "job.json").read_text())["unet_calls"] == summary["unet_calls"]
    return summary, pd.read_parquet(out / "results.parquet"), out


def test_num_iters_sweep_samples_each_pass_once(run, tmp_path, unet_counter):
    passes = calls = 0
    for n in (1, 2, 3, 4, 5):
        summary, frame, _ = run(tmp_path, f"n{n}", f"freeinit.num_iters={n}")
        assert len(frame) == 2 * n and sorted(frame.iteration.unique()) == list(range(n))
        passes += summary["passes_generated"]
        calls += summary["unet_calls"]
    assert passes == 2 * 5  # 5 passes per sample, not 1 + 2 + 3 + 4 + 5 = 15
    assert calls == unet_counter.calls == 5 * 2  # one batch: 5 passes x 2 steps


def test_filter_sweep_shares_the_baseline_pass(run, tmp_path, unet_counter):
    first, gauss, _ = run(tmp_path, "g", "freeinit.num_iters=2", "freeinit.method=gaussian")
    second, butter, _ = run(tmp_path, "b", "freeinit.num_iters=2", "freeinit.method=butterworth")
    assert (first["passes_generated"], second["passes_generated"]) == (4, 2)
    assert unet_counter.calls == 2 * 2 + 1 * 2
    base = ["pass_key", "motion"]
    pd.testing.assert_frame_equal(
        gauss[gauss.iteration == 0][base].reset_index(drop=True),
        butter[butter.iteration == 0][base].reset_index(drop=True),
    )
    assert set(gauss.pass_key[gauss.iteration == 1]).isdisjoint(butter.pass_key)


def test_one_pass_jobs_do_not_depend_on_the_filter(run, tmp_path, unet_counter):
    run(tmp_path, "g", "freeinit.num_iters=1", "freeinit.method=gaussian")
    summary, _, _ = run(tmp_path, "b", "freeinit.num_iters=1", "freeinit.method=box")
    assert summary["unet_calls"] == 0 and unet_counter.calls == 2


def test_metrics_are_what_the_job_asks_and_new_ones_cost_no_unet_call(run, tmp_path, unet_counter):
    first, only, _ = run(tmp_path, "a", "freeinit.num_iters=2", "metrics.names=[motion]")
    assert first["metric_values_computed"] == 4  # 2 samples x 2 passes
    calls = unet_counter.calls
    # Four metrics never computed on these passes: decoded from the cached latents.
    summary, pixel, _ = run(tmp_path, "b", "freeinit.num_iters=2", "metrics=pixel")
    assert summary["unet_calls"] == 0 and unet_counter.calls == calls
    assert (summary["metric_values_computed"], summary["metric_values_cached"]) == (16, 4)
    assert "dino_consistency[pixel]" in pixel.columns
    pd.testing.assert_series_equal(pixel.motion, only.motion)
    # Back to one metric: the results hold exactly what is asked, nothing stale from job "b".
    summary, again, _ = run(tmp_path, "c", "freeinit.num_iters=2", "metrics.names=[motion]")
    assert summary["metric_values_computed"] == 0
    assert not any("[pixel]" in c for c in again.columns)
    summary, _, _ = run(tmp_path, "d", "freeinit.num_iters=2", "metrics=pixel")
    assert (summary["metric_values_computed"], summary["unet_calls"]) == (0, 0)


def test_the_default_job_reports_the_judges_metrics(job_config, tmp_path, unet_counter):
    """``python run.py``'s job (model=testbed, metrics=testbed) at 8 frames and 2 steps:
    testbed_accuracy and testbed_all4 beside consistency and motion, and the judge's features as
    the consistency metrics' encoder when asked."""
    overrides = [o for o in TINY if o not in ("model.num_frames=4", "metrics=pixel")]
    cfg = job_config(tmp_path, "judge", [*overrides, "metrics.encoder=testbed_judge"])
    assert list(cfg.metrics.names[-2:]) == ["testbed_accuracy", "testbed_all4"]
    summary, frame, _ = _run(cfg, tmp_path / "judge")
    iterations = int(cfg.freeinit.num_iters)  # the default job's FreeInit passes
    assert len(frame) == 2 * iterations and unet_counter.calls == iterations * 2  # one batch
    for column in ("testbed_accuracy", "testbed_all4"):
        assert frame[column].between(0, 1).all() and summary["metrics"][column]["metric"] == column
    assert (frame.testbed_all4 <= frame.testbed_accuracy).all()
    assert set(frame.testbed_accuracy * 4) <= {0, 1, 2, 3, 4}  # fractions of four attributes
    assert frame["dino_consistency[testbed_judge]"].notna().all() and "motion" in frame


def test_videos_come_later_from_cached_latents(run, tmp_path, unet_counter):
    summary, frame, out = run(tmp_path, "a", "freeinit.num_iters=2", "save_videos=false")
    assert frame.video_path.isna().all() and frame.comparison_path.isna().all()
    assert not (out / "videos").exists()
    calls = unet_counter.calls
    summary, frame, out = run(tmp_path, "b", "freeinit.num_iters=2", "save_videos=true")
    assert unet_counter.calls == calls and summary["passes_generated"] == 0
    for rel in [*frame.video_path, *frame.comparison_path]:
        assert not Path(rel).is_absolute() and (out / rel).is_file()
    assert set(frame.comparison_path.str.endswith("iter0_vs_iter1.gif")) == {True}


def test_one_pass_jobs_have_no_comparison(run, tmp_path):
    _, frame, out = run(tmp_path, "a", "freeinit.num_iters=1")
    assert frame.comparison_path.isna().all()
    assert all((out / p).is_file() for p in frame.video_path)


def test_corrupt_cached_latent_is_regenerated(run, tmp_path, unet_counter):
    _, first, _ = run(tmp_path, "a", "freeinit.num_iters=2")
    cache = PassCache(tmp_path / "cache")
    key = first.pass_key.iloc[1]  # pass 1 of the first sample
    latents = cache.dir(key) / "latents.safetensors"
    latents.write_bytes(latents.read_bytes()[:100])
    calls = unet_counter.calls
    # A handler on the cache's own logger sees each record once, whatever other tests did to
    # the root logger's handlers (Hydra's job logging).
    seen: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: seen.append(record.getMessage())
    logging.getLogger("experiments.cache").addHandler(handler)
    try:
        summary, again, _ = run(tmp_path, "b", "freeinit.num_iters=2")
    finally:
        logging.getLogger("experiments.cache").removeHandler(handler)
    assert summary["passes_generated"] == 1 and unet_counter.calls == calls + 2
    assert [m for m in seen if "corrupt" in m] == [
        f"cache: {latents} is missing or corrupt (size/digest): regenerating"
    ]
    # Regenerated alone instead of in a batch of 2: equal up to batch-dependent float32 rounding
    # of the UNet's matrix products (~1e-4 relative on AVX-512 CPUs).
    assert again.motion.tolist() == pytest.approx(first.motion.tolist(), rel=1e-3, abs=1e-5)


def test_resumed_passes_match_an_uninterrupted_run(run, tmp_path):
    run(tmp_path / "sweep", "n2", "freeinit.num_iters=2")
    _, swept, _ = run(tmp_path / "sweep", "n4", "freeinit.num_iters=4")
    _, whole, _ = run(tmp_path / "whole", "n4", "freeinit.num_iters=4")
    assert swept.pass_key.tolist() == whole.pass_key.tolist()
    a, b = PassCache(tmp_path / "sweep" / "cache"), PassCache(tmp_path / "whole" / "cache")
    for key in whole.pass_key:
        za, zb = a.latents(a.load(key)), b.latents(b.load(key))
        # Same seeds and settings: identical but for the float32 rounding of batched matrix
        # products, which can differ with the batch layout (|z| ~ 1-20 here).
        torch.testing.assert_close(za, zb, rtol=1e-3, atol=1e-3)


def test_long_and_odd_prompts_give_bounded_file_names(run, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a" * 300 + "\n" + "red/blue \\ circle: *moving* ..\n")
    _, frame, out = run(
        tmp_path, "a", "dataset=custom", f"dataset.path={prompts}", "freeinit.num_iters=1"
    )
    for rel in frame.video_path:
        assert (out / rel).is_file()
        assert all(len(part) <= 80 for part in Path(rel).parts)


def test_written_files_respect_the_umask(run, tmp_path):
    old = os.umask(0o022)
    try:
        _, _, out = run(tmp_path, "a", "freeinit.num_iters=2")
    finally:
        os.umask(old)
    written = [out / "results.parquet", out / "job.json"]
    written += [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert written and {p.stat().st_mode & 0o777 for p in written} == {0o644}


def test_diffusers_rng_chains_restart_from_pass_zero(run, tmp_path, unet_counter):
    run(tmp_path, "a", "freeinit.num_iters=1", "freeinit.rng=per_sample")
    summary, frame, _ = run(tmp_path, "b", "freeinit.num_iters=2", "freeinit.rng=diffusers")
    # Pass 0 is cached (shared by both protocols) but a diffusers chain cannot resume after it.
    assert summary["passes_generated"] == 4 and unet_counter.calls == 2 + 2 * 2
    assert len(frame) == 4


def test_freqprior_jobs_resume_from_the_cached_mid_latent(run, tmp_path, unet_counter):
    fp = ("freqprior=default", "model.num_inference_steps=4")
    # 4 steps: 999, 666, 333, 0 (linspace); mid_step auto is 333, two steps before it.
    summary, frame, _ = run(tmp_path / "sweep", "n2", *fp, "freqprior.num_iters=2")
    assert frame.freqprior.all() and set(frame.num_iters) == {1}  # FreeInit off
    assert set(frame.freqprior_mid_step) == {333}
    # Every pass runs to the end so that it is measured (2 samples in one batch x 2 x 4 steps);
    # unet_steps counts what the method itself spends: earlier passes stop at mid_step.
    assert summary["unet_calls"] == unet_counter.calls == 2 * 4
    assert frame.groupby("iteration").unet_steps.first().tolist() == [4, 6]
    calls = unet_counter.calls
    summary, swept, _ = run(tmp_path / "sweep", "n3", *fp, "freqprior.num_iters=3")
    assert summary["passes_generated"] == 2 and unet_counter.calls == calls + 4  # pass 2 only
    assert swept.groupby("iteration").unet_steps.first().tolist() == [4, 6, 8]
    _, whole, _ = run(tmp_path / "whole", "n3", *fp, "freqprior.num_iters=3")
    assert swept.pass_key.tolist() == whole.pass_key.tolist()
    a, b = PassCache(tmp_path / "sweep" / "cache"), PassCache(tmp_path / "whole" / "cache")
    for key in whole.pass_key:
        for name in ("latents", "mid_latents"):
            # Same seeds: equal but for batch-dependent float32 rounding (as above).
            za, zb = a.latents(a.load(key), name), b.latents(b.load(key), name)
            torch.testing.assert_close(za, zb, rtol=1e-3, atol=1e-3)


def test_freqprior_and_freeinit_share_the_plain_pass_but_no_refinement(run, tmp_path):
    _, freeinit, _ = run(tmp_path, "fi", "freeinit.num_iters=2", "model.num_inference_steps=4")
    _, freqprior, _ = run(
        tmp_path, "fp", "freqprior=default", "freqprior.num_iters=2", "model.num_inference_steps=4"
    )
    zero = [freeinit.iteration == 0, freqprior.iteration == 0]
    # Pass 0 is plain sampling in both (FreqPrior's record also holds its mid latent: own key).
    assert freeinit[zero[0]].motion.tolist() == pytest.approx(
        freqprior[zero[1]].motion.tolist(), rel=1e-3, abs=1e-5
    )
    assert set(freeinit.pass_key).isdisjoint(freqprior.pass_key)


def test_freenoise_jobs_sample_past_the_motion_modules_window(run, tmp_path, unet_counter):
    # The testbed's motion module holds 32 positions: 40 frames only with windows of 16.
    summary, frame, _ = run(
        tmp_path, "fn", "freenoise=default", "model.num_frames=40", "freeinit.num_iters=2"
    )
    assert frame.freenoise.all() and set(frame.freenoise_context_length) == {16}
    assert summary["unet_calls"] == unet_counter.calls == 2 * 2
    assert frame.num_frames.unique().tolist() == [40]
    # A plain job of the same length is a different sample: FreeNoise changes pass 0 too.
    _, plain, _ = run(tmp_path, "plain", "model.num_frames=20", "freeinit.num_iters=1")
    _, windowed, _ = run(
        tmp_path, "fn20", "freenoise=default", "model.num_frames=20", "freeinit.num_iters=1"
    )
    assert set(plain.pass_key).isdisjoint(windowed.pass_key)
    assert not plain.freenoise.any()


def test_per_frame_prompts_sample_alone_with_freenoise(run, tmp_path, unet_counter):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red circle\n0: a red circle | 10: a blue square\na green square\n")
    data = ("dataset=custom", f"dataset.path={prompts}", "dataset.limit=null")
    fn = ("freenoise=default", "model.num_frames=20", "freeinit.num_iters=1", "batch_size=4")
    summary, frame, _ = run(tmp_path, "mp", *data, *fn)
    assert frame.prompt.tolist() == [
        "a red circle",
        "0: a red circle | 10: a blue square",
        "a green square",
    ]
    # The keyframed prompt goes alone ({frame: text} is one video per call), after the batch of
    # the two plain ones: 2 calls x 2 steps.
    assert summary["unet_calls"] == unet_counter.calls == 2 * 2
    # Its video is sampled with the interpolated per-frame embeddings, not the raw string.
    plain = tmp_path / "plain.txt"
    plain.write_text("a red circle\n")
    _, alone, _ = run(tmp_path, "p", "dataset=custom", f"dataset.path={plain}", *fn)
    assert alone.motion.iloc[0] == pytest.approx(frame.motion.iloc[0], rel=1e-3, abs=1e-5)
    assert frame.motion.iloc[1] != pytest.approx(alone.motion.iloc[0], rel=1e-3, abs=1e-5)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (("model.num_frames=20",), "need freenoise.enabled=true"),
        (
            ("freenoise=default", "model.num_frames=8", "freenoise.context_length=8"),
            "keyframe 10 is not a frame of a 8-frame",
        ),
        (
            ("freenoise=default", "model=tiny_modelscope", "model.num_frames=20"),
            "need an AnimateDiff pipeline",
        ),
    ],
)
def test_per_frame_prompts_are_refused_before_loading(
    run, tmp_path, unet_counter, overrides, match
):
    from experiments.settings import ConfigError

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("0: a red circle | 10: a blue square\n")
    with pytest.raises(ConfigError, match=f"^dataset.path: prompt custom/0000 .*{match}"):
        run(tmp_path, "bad", "dataset=custom", f"dataset.path={prompts}", *overrides)
    assert unet_counter.calls == 0


def test_bytheway_and_freelong_jobs_change_pass_zero_and_restore(run, tmp_path, unet_counter):
    _, plain, _ = run(tmp_path, "plain", "freeinit.num_iters=1")
    _, bw, _ = run(tmp_path, "bw", "bytheway=default", "freeinit.num_iters=2")
    assert bw.bytheway.all() and set(bw.bytheway_tau) == {1}  # 4 frames: at most F/2 - 1
    assert set(plain.pass_key).isdisjoint(bw.pass_key)  # ByTheWay changes pass 0 too
    _, fl, _ = run(tmp_path, "fl", "freelong=default", "freelong.window=2", "freeinit.num_iters=1")
    assert fl.freelong.all() and set(fl.freelong_window) == {2}
    assert set(plain.pass_key).isdisjoint(fl.pass_key)
    assert not plain.bytheway.any() and not plain.freelong.any()
    # 1 + 2 + 1 passes of 2 videos in one batch, 2 steps each
    assert unet_counter.calls == (1 + 2 + 1) * 2


def test_freelong_samples_past_the_motion_modules_positions_when_told_how(run, tmp_path):
    # The testbed's motion module holds 32 positions: 40 frames with interpolated positions.
    fl = ("freelong=default", "freelong.positions=interpolate", "freeinit.num_iters=1")
    _, frame, _ = run(tmp_path, "fl40", *fl, "model.num_frames=40")
    assert frame.num_frames.unique().tolist() == [40] and set(frame.freelong_positions) == {
        "interpolate"
    }


@pytest.mark.parametrize(
    "methods",
    [
        ("freqprior=default", "freelong=default", "freelong.window=2", "freeu=model"),
        ("bytheway=default", "freenoise=default", "freenoise.context_length=4"),
        ("freeinit.num_iters=2", "bytheway=default", "freeu=model"),
    ],
    ids=["freqprior+freelong+freeu", "bytheway+freenoise", "freeinit+bytheway+freeu"],
)
def test_methods_compose_in_one_job(run, tmp_path, methods):
    _, frame, _ = run(tmp_path, "job", *methods, "model.num_frames=8")
    on = {m.split("=")[0] for m in methods if m.endswith(("=default", "=model"))}
    for column in ("freqprior", "freelong", "freeu", "bytheway", "freenoise"):
        assert frame[column].all() == (column in on)
    assert frame.motion.notna().all()


def test_fvd_against_a_reference_folder_lands_in_the_job_summary(run, tmp_path, unet_counter):
    from freqlab.video.write import save_video

    reference = tmp_path / "reference"
    reference.mkdir()
    g = torch.Generator().manual_seed(0)
    for i in range(3):
        save_video(torch.rand(16, 3, 32, 32, generator=g), reference / f"clip{i}.mp4", fps=8)
    fvd = (f"metrics.fvd.reference={reference}", "metrics.fvd.weights=random")
    summary, frame, out = run(tmp_path, "fvd", *fvd, "model.num_frames=16", "freeinit.num_iters=2")
    result = summary["fvd"]
    assert result["column"] == "fvd[i3d_k400]" and result["reference_videos"] == 3
    assert [i["iteration"] for i in result["iterations"]] == [0, 1]
    assert all(i["videos"] == 2 and i["fvd"] > 0 for i in result["iterations"])
    from evaluation.report import build_report

    table = build_report(out, n_resamples=100).table("fvd")
    assert [row[1:4] for row in table.rows] == [["0", "2", "3"], ["1", "2", "3"]]
    assert "biased upward" in table.notes[-1]


def test_fvd_needs_sixteen_frames_and_a_folder(run, tmp_path, unet_counter):
    from experiments.settings import ConfigError

    with pytest.raises(ConfigError, match=r"^metrics\.fvd\.reference must be a folder"):
        run(tmp_path, "a", f"metrics.fvd.reference={tmp_path / 'none'}")
    with pytest.raises(ConfigError, match=r"^metrics\.fvd\.reference: FVD compares 16-frame"):
        run(tmp_path, "b", f"metrics.fvd.reference={tmp_path}")
    assert unet_counter.calls == 0


@pytest.mark.parametrize(
    ("model", "frames", "unet_calls"),
    [
        # Wan 2.1: a DiT and a causal video VAE compressing 4 frames per latent (5 frames: 2
        # latent frames, 32 px a multiple of 16); a frame-by-frame decode refused its VAE.
        ("tiny_wan", 5, None),
        # CogVideoX: (B, F, C, h, w) latents (freqlab converts at the pipeline boundary), a
        # zero-terminal-SNR v-prediction DDIM (FreeInit re-noises to t = 877, not 999), a
        # causal 3D VAE (9 frames: 3 latent frames, 32 px a multiple of 8).
        ("tiny_cogvideox", 9, None),
        # Wan 2.2 A14B: two DiT experts switched at boundary_ratio 0.875 (the registry's
        # guidance_scale_2 reaches the low-noise one); 5 passes x 2 steps x 2 (Wan calls its
        # denoiser twice per guided step), whichever expert.
        ("tiny_wan22", 5, 5 * 2 * 2),
        # LTX-Video: token-packed latents, a VAE compressing 8 frames per latent (17 frames: 3
        # latent frames).
        ("tiny_ltx", 17, None),
        # Mochi: 12-channel latents, a VAE compressing 6 frames per latent (13 frames: 3 latent
        # frames), inverted flow-matching sigmas.
        ("tiny_mochi", 13, None),
        # HunyuanVideo 1.5: guidance through its guider (model.guidance_scale reaches it), noise
        # in the transformer's dtype; 9 frames: 3 latent frames.
        ("tiny_hunyuanvideo15", 9, None),
    ],
)
def test_video_dit_models_run_end_to_end_through_their_video_vae(
    job_config, tmp_path, model, frames, unet_calls
):
    # Sampled, decoded by the model's own VAE, measured and written.
    import av

    overrides = [
        f"model={model}",
        *(o for o in TINY if o not in ("model=testbed", "model.num_frames=4")),
    ]
    summary, frame, out = _run(job_config(tmp_path, model, overrides), tmp_path / model)
    assert summary["samples"] == 2 and summary["passes_generated"] == 2 * 5  # FreeInit's 5 passes
    assert set(frame.model) == {model} and set(frame.num_frames) == {frames}
    if unet_calls is not None:
        assert summary["unet_calls"] == unet_calls
    assert frame.motion.notna().all() and frame.temporal_flicker.notna().all()
    for path in frame.video_path:
        with av.open(str(out / path)) as container:  # every frame out of the latent frames
            assert sum(1 for _ in container.decode(video=0)) == frames
