"""Fixtures of the job tests: configs composed in-process, and an independent UNet call counter."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

import experiments.generate as generate

CONF = Path(__file__).resolve().parents[2] / "conf"


def compose_job(root: Path, out: str, overrides: list[str]) -> DictConfig:
    """The config of a job writing to ``root/out`` with its cache in ``root/cache``."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    with open_dict(cfg):
        cfg.paths.root = str(root)
        cfg.paths.output_dir = str(root / out)
        cfg.paths.cache_dir = str(root / "cache")
    return cfg


@dataclass
class UNetCounter:
    """Models loaded by jobs, and forward calls of their UNets."""

    loads: int = 0
    calls: int = 0


@pytest.fixture
def unet_counter(monkeypatch) -> UNetCounter:
    """Counts every model the generation job loads and every forward call of its UNet, with a
    hook of our own (independent of the job's bookkeeping)."""
    counter = UNetCounter()
    real = generate.load_model

    def load_and_count(*args, **kwargs):
        pipe = real(*args, **kwargs)
        counter.loads += 1

        def hook(module, args):
            counter.calls += 1

        pipe.unet.register_forward_pre_hook(hook)
        return pipe

    monkeypatch.setattr(generate, "load_model", load_and_count)
    return counter


@pytest.fixture
def job_config():
    """:func:`compose_job`, for tests (conftest modules are not importable by name)."""
    return compose_job
