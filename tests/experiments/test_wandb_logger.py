"""experiments.wandb_logger: a self-contained offline run folder, a bounded wait when the W&B server
cannot be reached, the mode and timeout keys, relative video paths."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf

from experiments import wandb_logger
from freqlab.video.write import save_video


@pytest.fixture
def wandb_home(tmp_path, monkeypatch) -> Path:
    """wandb's per-user folders (settings, cache, staging) under a fresh home."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    return home


def _cfg(out: Path, **logger) -> OmegaConf:
    return OmegaConf.create(
        dict(
            paths=dict(output_dir=str(out)),
            logger=dict(name="wandb", project="freqlab-test", entity=None, mode="offline")
            | dict(group=None, tags=[], log_videos=True)
            | logger,
        )
    )


def _job(out: Path) -> pd.DataFrame:
    """A one-sample, two-pass results frame; pass 1's video on disk, relative to ``out``."""
    rel = "videos/0000_a-red-disc-1a2b3c4d_seed0/iter1.mp4"
    save_video(torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0)), out / rel, 8)
    return pd.DataFrame(
        dict(
            sample_key=["s0", "s0"],
            pass_key=["p0", "p1"],
            prompt_id=["shapes/00", "shapes/00"],
            prompt=["a red disc", "a red disc"],
            seed=[0, 0],
            is_final=[False, True],
            model=["testbed", "testbed"],
            iteration=[0, 1],
            steps=[4, 4],
            motion=[0.2, 0.1],
            video_path=[None, rel],
            comparison_path=[None, None],
        )
    )


def test_offline_run_folder_holds_its_videos_and_staging(tmp_path, wandb_home, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    out = tmp_path / "job"
    frame = _job(out)
    summary = dict(samples=1, generated=1, cached=0, unet_calls=8)
    run_dir = wandb_logger.log_job(_cfg(out), frame, summary)
    assert run_dir is not None
    run = Path(run_dir).parent
    assert run.parent == out / "wandb" and run.name.startswith("offline-run-")
    # the video is copied into the run folder, where `wandb sync <copy>` reads run files from
    clips = list((run / "files" / "media" / "videos").rglob("*.mp4"))
    assert len(clips) == 1
    assert clips[0].read_bytes() == (out / frame.video_path[1]).read_bytes()
    # nothing staged outside the run folder: the transaction log names no path out of it
    assert not (wandb_home / ".local" / "share" / "wandb").exists()
    log_bytes = next(run.glob("run-*.wandb")).read_bytes()
    assert str(wandb_home).encode() not in log_bytes
    assert b"/staging/" in log_bytes and str(run / "staging").encode() in log_bytes
    assert os.environ.get("WANDB_DATA_DIR") is None  # restored


def _closed_port() -> int:
    """A localhost port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_gives_one_warning_and_no_run(tmp_path, wandb_home, monkeypatch, caplog):
    # A fake key and a server address where nothing listens: connections are refused locally,
    # no traffic leaves the machine. init_timeout bounds wandb.init's wait (wandb's default: 90 s).
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{_closed_port()}")
    out = tmp_path / "job"
    frame = _job(out)
    with caplog.at_level(logging.WARNING, logger=wandb_logger.__name__):
        result = wandb_logger.log_job(_cfg(out, init_timeout=1), frame, dict(samples=1))
    assert result is None
    warnings = [r.getMessage() for r in caplog.records if r.name == wandb_logger.__name__]
    assert len(warnings) == 1
    assert "W&B is unreachable" in warnings[0] and "logger.init_timeout=1" in warnings[0]
    assert str(out) in warnings[0]


def test_mode_comes_from_the_environment_first_and_is_not_written_back(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    cfg = _cfg(tmp_path, mode="online")
    assert wandb_logger.logger_mode(cfg) == "online"
    assert "WANDB_MODE" not in os.environ  # a sweep's next job does not inherit it
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert wandb_logger.logger_mode(cfg) == "offline"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert wandb_logger.logger_mode(cfg) is None
    assert wandb_logger.logger_mode(OmegaConf.create(dict(logger=dict(name="none")))) is None


@pytest.mark.parametrize("value", [0, -1, "soon", True, float("inf")])
def test_init_timeout_must_be_positive_seconds(tmp_path, value):
    with pytest.raises(ValueError, match="logger.init_timeout"):
        wandb_logger.init_timeout(_cfg(tmp_path, init_timeout=value))
    assert wandb_logger.init_timeout(_cfg(tmp_path)) == wandb_logger.INIT_TIMEOUT
    assert wandb_logger.init_timeout(_cfg(tmp_path, init_timeout=2)) == 2.0


def test_video_paths_resolve_against_the_job_folder(tmp_path):
    out = tmp_path / "job"
    frame = _job(out)
    absolute = str(out / frame.video_path[1])  # older results files hold absolute paths
    frame = pd.concat([frame, frame.assign(video_path=[None, absolute])], ignore_index=True)
    frame.loc[len(frame)] = frame.iloc[1].to_dict() | {"video_path": "videos/missing.mp4"}
    paths = wandb_logger.video_files(frame, out)
    assert paths == [None, out / frame.video_path[1], None, Path(absolute), None]


def test_training_run_logs_its_group_and_training_config(tmp_path, wandb_home, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    cfg = OmegaConf.merge(_cfg(tmp_path), dict(train=dict(steps=2, lr=1e-3)))
    run, log_fn = wandb_logger.start_training_run(
        cfg, tmp_path, group="train_testbed", config=cfg.train
    )
    try:
        assert run.group == "train_testbed" and run.name == tmp_path.name
        assert dict(run.config) == {"steps": 2, "lr": 1e-3}  # the training group only
        log_fn({"loss": 0.5}, 1)
    finally:
        run.finish()
    assert list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    off = OmegaConf.merge(cfg, dict(logger=dict(name="none")))
    assert wandb_logger.start_training_run(off, tmp_path, group="g", config=cfg.train) == (
        None,
        None,
    )
