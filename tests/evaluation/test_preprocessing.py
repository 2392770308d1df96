"""Frame preprocessing: the documented resize/crop rules, and parity with VBench's transforms."""

from __future__ import annotations

import pytest
import torch
from torchvision import transforms as T
from torchvision.transforms import InterpolationMode

from evaluation.preprocessing import (
    CLIP_MEAN,
    CLIP_STD,
    FREEINIT_DINO,
    IMAGENET_MEAN,
    IMAGENET_STD,
    VBENCH_CLIP,
    VBENCH_DINO,
    Preprocess,
    get_preprocess,
)


@pytest.mark.parametrize(
    ("rule", "hw", "expected"),
    [
        (FREEINIT_DINO, (512, 512), (224, 224)),
        (FREEINIT_DINO, (320, 512), (224, 224)),
        (VBENCH_DINO, (512, 512), (224, 224)),
        (VBENCH_DINO, (320, 512), (224, 358)),  # shorter side 224, aspect kept, no crop
        (VBENCH_DINO, (576, 320), (403, 224)),
        (VBENCH_CLIP, (320, 512), (224, 224)),
        (Preprocess(resize="square", crop=False), (320, 512), (224, 224)),
        (Preprocess(resize="none", crop=False), (37, 50), (37, 50)),
    ],
)
def test_output_size(rule, hw, expected):
    assert rule.output_size(*hw) == expected
    frames = torch.rand(2, 3, *hw)
    assert tuple(rule(frames).shape) == (2, 3, *expected)


def test_vbench_dino_transform_parity():
    """VBench: Resize(224, antialias=False) on float 0-255 frames, /255, ImageNet Normalize."""
    gen = torch.Generator().manual_seed(0)
    video = torch.randint(0, 256, (3, 3, 96, 160), generator=gen).float()
    vbench = T.Compose(
        [
            T.Resize(size=224, antialias=False),
            T.Lambda(lambda x: x.float().div(255.0)),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    torch.testing.assert_close(VBENCH_DINO(video / 255), vbench(video), atol=2e-5, rtol=1e-5)


def test_vbench_clip_transform_parity():
    """VBench: Resize(224, bicubic, antialias=False), CenterCrop(224), /255, CLIP Normalize."""
    gen = torch.Generator().manual_seed(1)
    video = torch.randint(0, 256, (3, 3, 300, 180), generator=gen).float()
    vbench = T.Compose(
        [
            T.Resize(224, interpolation=InterpolationMode.BICUBIC, antialias=False),
            T.CenterCrop(224),
            T.Lambda(lambda x: x.float().div(255.0)),
            T.Normalize(CLIP_MEAN, CLIP_STD),
        ]
    )
    torch.testing.assert_close(VBENCH_CLIP(video / 255), vbench(video), atol=2e-5, rtol=1e-5)


def test_normalisation_and_clamp():
    white = torch.ones(1, 3, 224, 224)
    expected = (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    torch.testing.assert_close(FREEINIT_DINO(white)[0, :, 0, 0], expected)
    # bicubic overshoot at a sharp edge is clamped with clamp=True only
    edge = torch.zeros(1, 3, 64, 64)
    edge[..., 32:] = 1
    rule = Preprocess(size=224, mean=(0, 0, 0), std=(1, 1, 1), antialias=False, clamp=False)
    assert rule(edge).max() > 1.0
    assert Preprocess(size=224, mean=(0, 0, 0), std=(1, 1, 1), clamp=True)(edge).max() <= 1.0


def test_get_preprocess_and_validation():
    assert get_preprocess("vbench_dino") is VBENCH_DINO
    assert get_preprocess({"size": 112, "crop": False}) == Preprocess(size=112, crop=False)
    assert get_preprocess(FREEINIT_DINO) is FREEINIT_DINO
    with pytest.raises(ValueError, match="preprocess must be"):
        get_preprocess("imagenet")
    with pytest.raises(ValueError, match="resize must be one of"):
        Preprocess(resize="long")
    with pytest.raises(ValueError, match="interpolation must be one of"):
        Preprocess(interpolation="lanczos")
    with pytest.raises(ValueError, match="std must be positive"):
        Preprocess(std=(1, 0, 1))
    assert FREEINIT_DINO.to_dict()["resize"] == "short"
