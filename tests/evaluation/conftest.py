"""Fixtures for the evaluation tests: tiny seeded encoders and the tiny ViT's weights, hand-made
videos, an empty offline weights cache, and a guard that fails any network connection."""

from __future__ import annotations

import socket

import pytest
import torch
from torch import nn

from evaluation.encoders import EncoderSpec, register_encoder
from evaluation.preprocessing import Preprocess

# Identity geometry and normalisation on tiny frames: a constant-colour frame stays its colour.
RAW = Preprocess(
    size=8,
    resize="square",
    crop=False,
    interpolation="bilinear",
    antialias=True,
    clamp=False,
    mean=(0.0, 0.0, 0.0),
    std=(1.0, 1.0, 1.0),
)

TINY_VIT = EncoderSpec(
    name="test_vit_tiny",
    library="timm",
    model_id="vit_tiny_patch16_224",
    hub_id="test-org/vit-tiny",
    hub_filenames=("model.safetensors", "pytorch_model.bin"),
    description="1-block ViT-Ti/16 (tests)",
    model_kwargs={"num_classes": 0, "depth": 1, "dynamic_img_size": True},
)
register_encoder(TINY_VIT, overwrite=True)


@pytest.fixture(scope="module")
def state_dict():
    """Weights of the tiny ViT (``test_vit_tiny``), different from its seed-0 random init."""
    import timm

    torch.manual_seed(123)
    model = timm.create_model("vit_tiny_patch16_224", num_classes=0, depth=1)
    return {k: v.contiguous() for k, v in model.state_dict().items()}


class MeanColour(nn.Module):
    """Features = the frame's mean colour: ``(N, 3, h, w) -> (N, 3)``."""

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return frames.mean(dim=(2, 3))


class TinyConv(nn.Module):
    """A small seeded conv net: ``(N, 3, h, w) -> (N, 16)``."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.conv1 = nn.Conv2d(3, 8, 5, stride=4)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(frames))
        return self.conv2(x).mean(dim=(2, 3))


def colour_video(*colours: tuple[float, float, float], size: int = 8) -> torch.Tensor:
    """One video ``(1, T, 3, size, size)``, frame ``t`` filled with ``colours[t]``."""
    frames = torch.tensor(colours, dtype=torch.float32)[:, :, None, None]
    return frames.expand(-1, -1, size, size).unsqueeze(0).contiguous()


def random_videos(b: int, t: int, h: int = 32, w: int = 40, seed: int = 0) -> torch.Tensor:
    """uint8 videos ``(b, t, 3, h, w)``: a random base frame plus smaller random changes."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.rand(b, 1, 3, h, w, generator=gen)
    change = (
        torch.rand(b, t, 3, h, w, generator=gen) * torch.linspace(0, 0.8, t)[:, None, None, None]
    )
    return ((base * 0.6 + change * 0.4).clamp(0, 1) * 255).round().to(torch.uint8)


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path_factory):
    """Empty weight caches (HF_HUB_CACHE, TORCH_HOME) and no IP networking: any connection
    attempt fails the test."""
    root = tmp_path_factory.mktemp("caches")
    monkeypatch.setenv("HF_HUB_CACHE", str(root / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(root / "torch"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    real_connect = socket.socket.connect

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError(f"network access attempted: {address!r}")
        return real_connect(self, address)

    def getaddrinfo(host, *args, **kwargs):
        raise AssertionError(f"network access attempted: {host!r}")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return root


@pytest.fixture
def raw() -> Preprocess:
    return RAW


@pytest.fixture
def mean_colour() -> MeanColour:
    return MeanColour()


@pytest.fixture
def tiny_conv() -> TinyConv:
    return TinyConv().eval()


@pytest.fixture
def make_colour_video():
    return colour_video


@pytest.fixture
def make_videos():
    return random_videos
