"""task=snr: the job on the synthetic set and on a folder with unreadable files, each video DiT
family's tiny model end to end, config errors, W&B offline, and the CLI's one-line error for a
missing folder."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from experiments import snr as snr_task
from experiments.settings import ConfigError
from experiments.snr import run_snr
from experiments.snr_plots import RESULT_FILES, load_results
from freqlab.data.shapes import shape_videos

ROOT = Path(__file__).resolve().parents[2]
SMALL = [
    "task=snr",
    "model=tiny_animatediff",
    "model.num_inference_steps=2",
    "snr.num_videos=3",
    "snr.batch_size=2",
    "snr.num_timesteps=6",
    "snr.progress=false",
    "snr.correlation.num_prompts=1",
    "snr.correlation.num_iters=2",
    "logger=none",
    "device=cpu",
]


def _write_clips(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, video in enumerate(shape_videos(count, 10, 48, 64)):
        iio.imwrite(folder / f"clip{i}.mp4", video.permute(0, 2, 3, 1).numpy(), fps=8)


def test_synthetic_run_writes_every_result_and_logs_offline(tmp_path, monkeypatch, task_config):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "run"
    summary = run_snr(task_config([*SMALL, "logger=wandb"], out))
    for name in RESULT_FILES.values():
        assert (out / name).exists(), name
    assert list((out / "wandb").glob("offline-run-*/run-*.wandb"))

    res = load_results(out)
    assert res.summary == json.loads(json.dumps(summary, default=str))
    assert summary["videos"] == {
        **summary["videos"],
        "source": "synthetic",
        "read": 3,
        "skipped": 0,
        "skipped_files": [],
    }
    names = ["model", "zero_snr", "linear", "scaled_linear", "flow"]
    assert list(dict.fromkeys(res.snr.schedule)) == names
    assert len(res.snr) == len(names) * 6 * 8 and res.snr.timestep.max() == 999
    last = summary["last_timestep"]
    assert last["zero_snr"]["lowest_band_db"] == "-inf" == last["flow"]["highest_band_db"]
    assert last["model"]["lowest_band_db"] > last["model"]["highest_band_db"] + 10
    assert last["scaled_linear"]["lowest_band_db"] > last["linear"]["lowest_band_db"]
    assert summary["latents"]["shape"] == [4, 8, 8, 8]
    first = res.first_step
    assert set(first.timestep[first.kind == "ddpm"]) == {999.0}  # AnimateDiff: linspace
    corr = res.correlation
    assert sorted(corr["pass"].unique()) == [-1, 0, 1]
    assert corr.correlation.dropna().between(-1, 1).all()
    assert summary["correlation"]["unet_calls"] == 2 * 2  # passes x steps
    assert set(res.videos.status) == {"read"}
    # The schedule's levels (experiments.snr_levels): AnimateDiff's DDIM, no zero terminal SNR,
    # so FreeInit re-noises to t = 999 at its -28 dB. NaN columns (flow only) are None in JSON.
    levels = summary["levels"]
    assert levels["model"] == "tiny_animatediff" and levels["scheduler"] == "DDIMScheduler"
    assert levels["prediction_type"] == "epsilon" and levels["zero_terminal_snr"] is False
    assert levels["last_snr_db"] == pytest.approx(-28.01, abs=0.01)
    assert levels["first_timestep"] == 999.0 and levels["first_snr_db"] == levels["last_snr_db"]
    assert levels["renoise_at"] == "t = 999" and levels["renoise_timestep"] == 999.0
    assert levels["renoise_snr_db"] == levels["last_snr_db"]
    assert levels["renoise_sigma"] is None and levels["flow_shift"] is None
    assert len(res.levels) == 1
    assert res.levels.iloc[0].renoise_snr_db == pytest.approx(levels["renoise_snr_db"], abs=0)


@pytest.mark.parametrize("model", ["tiny_animatediff", "modelscope"])
def test_wandb_config_carries_no_metrics(tmp_path, monkeypatch, model, task_config):
    # task=snr computes no metric. A real model's config still picks its metrics group (its
    # override needs the group in the task's defaults), but the run's W&B config leaves it out.
    import experiments.wandb_logger as wandb_logger

    logged = {}
    monkeypatch.setattr(wandb_logger, "start_run", lambda cfg, out, **kw: logged.update(kw))
    cfg = task_config(["task=snr", f"model={model}", "logger=wandb"], tmp_path)
    assert "metrics" in cfg
    snr_task._log_wandb(cfg, tmp_path, {}, {})
    assert logged["job_type"] == "snr" and "metrics" not in logged["config"]
    assert {"model", "dataset", "freeinit", "freeu", "snr", "logger"} <= set(logged["config"])
    assert logged["config"]["snr"] == OmegaConf.to_container(cfg.snr, resolve=True)


def test_folder_run_skips_and_counts_unreadable_files(tmp_path, task_config):
    videos = tmp_path / "videos"
    _write_clips(videos / "ClassA", 2)
    (videos / "ClassB").mkdir()
    (videos / "ClassB" / "corrupt.avi").write_bytes(np.random.default_rng(0).bytes(2048))
    (videos / "ClassB" / "empty.gif").write_bytes(b"")
    out = tmp_path / "run"
    overrides = [
        *SMALL,
        f"snr.videos={videos}",
        "snr.num_videos=10",
        "snr.correlation.enabled=false",
        "freeinit.renoise_timestep=500",  # the levels follow the run's FreeInit settings
    ]
    summary = run_snr(task_config(overrides, out))
    assert summary["levels"]["renoise_rule"] == "500"
    assert summary["levels"]["renoise_at"] == "t = 500"
    assert summary["levels"]["renoise_snr_db"] > summary["levels"]["last_snr_db"] + 10
    assert summary["videos"]["read"] == 2 and summary["videos"]["skipped"] == 2
    assert sorted(Path(f["path"]).name for f in summary["videos"]["skipped_files"]) == [
        "corrupt.avi",
        "empty.gif",
    ]
    table = pd.read_parquet(out / RESULT_FILES["videos"])
    assert table.status.value_counts().to_dict() == {"read": 2, "skipped": 2}
    assert table[table.status == "skipped"].reason.str.len().gt(0).all()
    assert not (out / RESULT_FILES["correlation"]).exists()
    assert math.isfinite(summary["last_timestep"]["model"]["lowest_band_db"])

    for bad in videos.rglob("*.mp4"):
        bad.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="none of the 4 video files"):
        run_snr(task_config(overrides, tmp_path / "again"))


@pytest.mark.parametrize(
    "override, key",
    [
        ("snr.schedules=[model,cosine]", "snr.schedules"),
        ("snr.num_bands=0", "snr.num_bands"),
        ("snr.timesteps=[0,-1]", "snr.timesteps"),
        ("snr.timesteps=[0,1000]", "snr.timesteps"),
        ("snr.flow_shift=-1", "snr.flow_shift"),
        ("snr.normalize_latents=maybe", "snr.normalize_latents"),
    ],
)
def test_bad_snr_settings_name_their_key(tmp_path, override, key, task_config):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        run_snr(task_config([*SMALL, "snr.correlation.enabled=false", override], tmp_path))


def test_cli_reports_a_missing_folder_in_one_line(tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1", WANDB_MODE="disabled", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [
            sys.executable,
            "run.py",
            "task=snr",
            f"snr.videos={tmp_path / 'nowhere'}",
            f"hydra.run.dir={tmp_path}/out",
            "logger=none",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = proc.stdout + proc.stderr  # Hydra logs to stdout
    assert proc.returncode == 1, output[-2000:]
    assert "videos folder" in output and "does not exist" in output
    assert "Traceback" not in output


def test_levels_summary_is_json_ready():
    # A zero-terminal-SNR schedule: -inf as a string (strict JSON), NaN columns as None.
    from diffusers import DDIMScheduler

    from experiments.snr_levels import levels_frame, schedule_levels

    scheduler = DDIMScheduler(  # AnimateDiff's betas, rescaled: -28 dB at t = 881
        beta_start=0.00085, beta_end=0.012, rescale_betas_zero_snr=True, timestep_spacing="trailing"
    )
    frame = levels_frame([schedule_levels(scheduler, 4, model="zero")])
    levels = snr_task._levels_summary(frame)
    assert json.loads(json.dumps(levels, allow_nan=False)) == levels
    assert levels["last_snr_db"] == "-inf" == levels["first_snr_db"]
    assert levels["zero_terminal_snr"] is True and levels["renoise_sigma"] is None
    assert levels["renoise_timestep"] == 881.0 and isinstance(levels["last_timestep"], int)


@pytest.mark.parametrize(
    ("model", "factor", "latent_shape"),
    [
        # (C, t, h, w) at the registry's default 32 x 32 and num_frames (f k + 1).
        ("tiny_cogvideox", 4, [16, 3, 8, 8]),  # 9 frames
        ("tiny_ltx", 8, [8, 3, 4, 4]),  # 17 frames
        ("tiny_mochi", 6, [12, 3, 4, 4]),  # 13 frames
        ("tiny_hunyuanvideo15", 4, [8, 3, 8, 8]),  # 9 frames, one video per VAE call
    ],
)
def test_video_dit_models_run_end_to_end(tmp_path, model, factor, latent_shape, task_config):
    # Each video-VAE family encodes whole clips through its pipeline's normalisation
    # (freqlab.vae.encode_frames), then the same spectra, schedules and FreeInit correlation.
    overrides = [o for o in SMALL if not o.startswith(("model=", "snr.num_videos="))]
    overrides += [f"model={model}", "snr.num_videos=2"]
    out = tmp_path / "run"
    summary = run_snr(task_config(overrides, out))
    assert summary["model"] == model and summary["videos"]["read"] == 2
    assert summary["videos"]["num_frames"] % factor == 1
    assert summary["latents"]["shape"] == latent_shape
    assert 0 < summary["latents"]["std"] < 10 and math.isfinite(summary["latents"]["mean"])
    for name in RESULT_FILES.values():
        assert (out / name).exists(), name
    res = load_results(out)
    assert res.correlation.correlation.dropna().between(-1, 1).all()
    if model == "tiny_cogvideox":  # v-prediction DDIM, zero terminal SNR
        assert summary["last_timestep"]["model"]["lowest_band_db"] == "-inf"
    else:  # flow matching: its path already has zero SNR at the end
        assert list(summary["skipped_schedules"]) == ["zero_snr"]
    # A frame count off the VAE's rule is refused by the config, before the model loads.
    with pytest.raises(ConfigError, match=rf"model\.num_frames must be {factor}k \+ 1"):
        run_snr(task_config([*overrides, f"model.num_frames={factor + 2}"], tmp_path / "bad"))
