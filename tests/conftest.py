"""Shared fixtures. Tests run offline, on CPU, with tiny seeded models."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

import pytest  # noqa: E402
import torch  # noqa: E402

# One thread: tiny tensors gain nothing from more, and on a shared 2-core machine OpenMP workers
# waiting for descheduled peers make multi-threaded FFTs and convs seconds slower.
torch.set_num_threads(1)


@pytest.fixture
def tiny_animatediff():
    """A fresh AnimateDiffPipeline (UNetMotionModel) with seeded random weights."""
    from freqlab.models import load_model

    return load_model("tiny_animatediff")


@pytest.fixture
def tiny_modelscope():
    """A fresh TextToVideoSDPipeline (UNet3DConditionModel) with seeded random weights."""
    from freqlab.models import load_model

    return load_model("tiny_modelscope")


def compose_task(overrides: list[str], out_dir: Path):
    """``conf/config.yaml`` composed with ``overrides`` for a task run in-process, writing to
    ``out_dir``: the Hydra section is composed (tasks read ``${hydra:...}``) and then dropped, as
    outside a Hydra run its resolvers have nothing to read."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    root = Path(__file__).resolve().parents[1]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(root / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.paths.root = str(root)
        cfg.paths.output_dir = str(out_dir)
        del cfg["hydra"]
    return cfg


@pytest.fixture
def task_config():
    """:func:`compose_task`, for tests (conftest modules are not importable by name)."""
    return compose_task


# The files of a diffusers ModelScope pipeline folder, as the weights fingerprint reads them.
MS_FILES = (
    "model_index.json",
    "vae/config.json",
    "vae/diffusion_pytorch_model.safetensors",
    "text_encoder/config.json",
    "text_encoder/model.safetensors",
    "tokenizer/vocab.json",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
)


def write_pipeline_layout(folder: Path, files=MS_FILES, content: bytes = b"x") -> Path:
    """The file layout of a diffusers pipeline folder (contents do not matter: nothing loads)."""
    for name in files:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    return folder


@pytest.fixture
def pipeline_layout():
    """:func:`write_pipeline_layout`, for tests (conftest modules are not importable by name)."""
    return write_pipeline_layout
