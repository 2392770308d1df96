"""MUSIQ: the published SPAQ checkpoint's keys and shapes, the multi-scale tokens, the masked
attention, a random-weights forward, and offline weight loading with its errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from evaluation.musiq import (
    MUSIQ,
    MUSIQ_SPAQ_FILE,
    MultiScaleTokens,
    StdConv2d,
    check_musiq_state_dict,
    hashed_grid_index,
    load_musiq,
    multiscale_tokens,
    resolve_musiq_weights,
    same_padding,
)
from freqlab.hub import WeightsNotFoundError

HUB_ID = "chaofengc/IQA-PyTorch-Weights"


def published_shapes() -> dict[str, tuple[int, ...]]:
    """``musiq_spaq_ckpt-358bb6af.pth``'s tensors as the reference lists them (metrics-more.md
    §5.2: pyiqa's MUSIQ, num_class 1)."""
    shapes: dict[str, tuple[int, ...]] = {"conv_root.weight": (64, 3, 7, 7)}
    shapes |= {"gn_root.weight": (64,), "gn_root.bias": (64,)}
    block = {
        "conv1.weight": (64, 64, 1, 1),
        "gn1": 64,
        "conv2.weight": (64, 64, 3, 3),
        "gn2": 64,
        "conv3.weight": (256, 64, 1, 1),
        "gn3": 256,
        "conv_proj.weight": (256, 64, 1, 1),
        "gn_proj": 256,
    }
    for name, shape in block.items():
        if isinstance(shape, int):  # GroupNorm: weight and bias
            shapes |= {f"block1.{name}.weight": (shape,), f"block1.{name}.bias": (shape,)}
        else:
            shapes[f"block1.{name}"] = shape
    shapes |= {"embedding.weight": (384, 16384), "embedding.bias": (384,)}
    enc = "transformer_encoder"
    shapes |= {
        f"{enc}.cls": (1, 1, 384),
        f"{enc}.posembed_input.position_emb": (1, 100, 384),
        f"{enc}.scaleembed_input.scale_emb": (3, 384),
        f"{enc}.encoder_norm.weight": (384,),
        f"{enc}.encoder_norm.bias": (384,),
    }
    for i in range(14):
        prefix = f"{enc}.transformer.encoderblock_{i}"
        for norm in ("norm1", "norm2"):
            shapes |= {f"{prefix}.{norm}.weight": (384,), f"{prefix}.{norm}.bias": (384,)}
        for proj in ("query", "key", "value", "out"):
            shapes |= {
                f"{prefix}.attention.{proj}.weight": (384, 384),
                f"{prefix}.attention.{proj}.bias": (384,),
            }
        shapes |= {
            f"{prefix}.mlp.fc1.weight": (1152, 384),
            f"{prefix}.mlp.fc1.bias": (1152,),
            f"{prefix}.mlp.fc2.weight": (384, 1152),
            f"{prefix}.mlp.fc2.bias": (384,),
        }
    shapes |= {"head.weight": (1, 384), "head.bias": (1,)}
    return shapes


@pytest.fixture(scope="module")
def model() -> MUSIQ:
    torch.manual_seed(0)
    return MUSIQ().eval()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, model):
    """The random model's state dict saved as the published file name (torch.save)."""
    path = tmp_path_factory.mktemp("musiq") / MUSIQ_SPAQ_FILE
    torch.save(model.state_dict(), path)
    return path


def test_state_dict_is_the_published_checkpoints(model):
    state = model.state_dict()
    expected = published_shapes()
    assert len(expected) == 248
    assert {k: tuple(v.shape) for k, v in state.items()} == expected
    assert sum(v.numel() for v in state.values()) == 27_125_825
    assert sum(p.numel() for p in model.parameters()) == 27_125_825  # no buffers


def test_tokens_of_a_vbench_frame():
    """512 x 320 (W x H): 35 -> 49 + 96 -> 144 + 160 = 353 tokens (the reference's example)."""
    tokens = multiscale_tokens(torch.zeros(2, 3, 320, 512))
    assert tokens.patches.shape == (2, 353, 3, 32, 32)
    assert tokens.spatial.shape == tokens.scale.shape == tokens.mask.shape == (353,)
    mask = tokens.mask.tolist()
    assert mask == [True] * 35 + [False] * 14 + [True] * 96 + [False] * 48 + [True] * 160
    assert tokens.scale.tolist() == [0] * 49 + [1] * 96 + [0] * 48 + [2] * 160
    # scale 224: 140 x 224 -> 5 x 7 patches; rows hash to 0, 2, 4, 6, 8, columns to
    # floor(j * 10 / 7) = 0, 1, 2, 4, 5, 7, 8; padding tokens get position 0
    cols = [0, 1, 2, 4, 5, 7, 8]
    assert tokens.spatial[:35].tolist() == [r * 10 + c for r in (0, 2, 4, 6, 8) for c in cols]
    assert tokens.spatial[35:49].tolist() == [0] * 14
    # original 10 x 16 patches: row r hashes to r, column c to c * 10 // 16
    assert tokens.spatial[193:].tolist() == [
        r * 10 + c * 10 // 16 for r in range(10) for c in range(16)
    ]


def test_hash_index_and_same_padding():
    assert hashed_grid_index(5, 10).tolist() == [0, 2, 4, 6, 8]
    assert hashed_grid_index(12, 10).tolist() == [0, 0, 1, 2, 3, 4, 5, 5, 6, 7, 8, 9]
    assert hashed_grid_index(3, 10).tolist() == [0, 3, 6]
    assert same_padding(32, 7, 2) == (2, 3)  # conv_root: 32 -> 16
    assert same_padding(16, 3, 2) == (0, 1)  # max pool: 16 -> 8
    assert same_padding(140, 32, 32) == (10, 10)  # patches: 5 rows of 32
    assert same_padding(70, 32, 32) == (13, 13)


def test_patches_are_same_padded_pixels():
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 40, 70, generator=gen) * 2 - 1
    tokens = multiscale_tokens(image)
    # scales: 224 -> 128 x 224 (4 x 7 = 28 of 49), 384 -> 219 x 384 (7 x 12 = 84 of 144)
    assert tokens.mask.tolist()[:49] == [True] * 28 + [False] * 21
    assert tokens.mask.tolist()[49:193] == [True] * 84 + [False] * 60
    resized = F.interpolate(image, size=(128, 224), mode="bicubic", align_corners=False)
    torch.testing.assert_close(tokens.patches[0, 8], resized[0, :, 32:64, 32:64], rtol=0, atol=0)
    # original: 40 x 70 padded to 64 x 96 (top 12, left 13): 2 x 3 patches
    original = tokens.patches[0, 193:]
    assert original.shape == (6, 3, 32, 32)
    padded = F.pad(image, (13, 13, 12, 12))
    for index in range(6):
        r, c = divmod(index, 3)
        expected = padded[0, :, r * 32 : r * 32 + 32, c * 32 : c * 32 + 32]
        torch.testing.assert_close(original[index], expected, rtol=0, atol=0)
    assert (original[0, :, :12].abs().sum() == 0) and (original[0, :, :, :13].abs().sum() == 0)


def test_std_conv_standardises_the_kernel():
    torch.manual_seed(1)
    conv = StdConv2d(3, 4, 7, stride=2, bias=False)
    w = conv.weight.detach()
    flat = w.reshape(4, -1)
    mean = flat.mean(dim=1)
    std = ((flat - mean[:, None]) ** 2).sum(dim=1).div(flat.shape[1] - 1).sqrt()  # unbiased
    expected = (w - mean[:, None, None, None]) / (std[:, None, None, None] + 1e-5)
    torch.testing.assert_close(conv.standardised_weight().detach(), expected)
    x = torch.randn(1, 3, 32, 32)
    out = conv(x)
    assert out.shape == (1, 4, 16, 16)
    torch.testing.assert_close(out, F.conv2d(F.pad(x, (2, 3, 2, 3)), expected, stride=2))


def test_padding_tokens_do_not_reach_the_score(model):
    gen = torch.Generator().manual_seed(2)
    image = torch.rand(1, 3, 24, 40, generator=gen)
    tokens = model.tokens(image)
    with torch.inference_mode():
        full = model.forward_tokens(tokens)
        # other pixels in the padding tokens: their attention weight is exactly 0
        noisy = tokens.patches.clone()
        noisy[:, ~tokens.mask] = torch.randn(noisy[:, ~tokens.mask].shape, generator=gen)
        changed = model.forward_tokens(
            MultiScaleTokens(noisy, tokens.spatial, tokens.scale, tokens.mask)
        )
        # and dropping them gives the same score up to float summation order
        keep = tokens.mask
        real = MultiScaleTokens(
            tokens.patches[:, keep], tokens.spatial[keep], tokens.scale[keep], tokens.mask[keep]
        )
        dropped = model.forward_tokens(real)
    torch.testing.assert_close(changed, full, rtol=0, atol=1e-6)
    torch.testing.assert_close(dropped, full, rtol=1e-5, atol=1e-5)


def test_forward_on_random_weights_at_a_tiny_size(model):
    gen = torch.Generator().manual_seed(3)
    images = torch.rand(2, 3, 24, 40, generator=gen)
    with torch.inference_mode():
        scores = model(images)
        alone = model(images[1:])
    assert scores.shape == (2,) and torch.isfinite(scores).all()
    assert scores[0] != scores[1]
    torch.testing.assert_close(alone, scores[1:], rtol=1e-5, atol=1e-5)


def test_load_from_a_file_and_from_each_cache(offline, monkeypatch, checkpoint, model):
    loaded = load_musiq(checkpoint)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value, rtol=0, atol=0)
    assert not loaded.training
    assert load_musiq(checkpoint) is loaded  # built once per weights and device
    assert resolve_musiq_weights(checkpoint.parent).path == checkpoint.resolve()  # a directory

    vbench = offline / "vbench"
    monkeypatch.setenv("VBENCH_CACHE_DIR", str(vbench))
    (vbench / "pyiqa_model").mkdir(parents=True)
    (vbench / "pyiqa_model" / MUSIQ_SPAQ_FILE).symlink_to(checkpoint)
    assert resolve_musiq_weights().kind == "cache"
    pyiqa = offline / "torch" / "hub" / "pyiqa"  # pyiqa's download folder (TORCH_HOME)
    pyiqa.mkdir(parents=True)
    (pyiqa / MUSIQ_SPAQ_FILE).symlink_to(checkpoint)
    assert resolve_musiq_weights().path == (pyiqa / MUSIQ_SPAQ_FILE).resolve()
    commit = "0123456789abcdef0123"
    repo = offline / "hf" / f"models--{HUB_ID.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "snapshots" / commit / MUSIQ_SPAQ_FILE).symlink_to(checkpoint)
    source = resolve_musiq_weights()
    assert source.kind == "hf-cache" and source.detail.startswith(f"{HUB_ID}/{MUSIQ_SPAQ_FILE}@")


def test_missing_weights_message(offline, monkeypatch):
    monkeypatch.setenv("VBENCH_CACHE_DIR", str(offline / "vbench"))
    with pytest.raises(WeightsNotFoundError) as info:
        load_musiq()
    message = str(info.value)
    assert MUSIQ_SPAQ_FILE in message and HUB_ID in message
    assert f"hf download {HUB_ID} {MUSIQ_SPAQ_FILE}" in message
    assert "github.com/chaofengc/IQA-PyTorch/releases/download/v0.1-weights/" in message
    assert "weights='/path/to/checkpoint'" in message and "config key `weights`" in message
    assert str(offline / "torch" / "hub" / "pyiqa" / MUSIQ_SPAQ_FILE) in message
    assert str(offline / "vbench" / "pyiqa_model" / MUSIQ_SPAQ_FILE) in message
    with pytest.raises(WeightsNotFoundError, match="no such file"):
        load_musiq(offline / "nowhere.pth")


def test_wrong_keys_name_the_first_mismatch(tmp_path, model):
    state = dict(model.state_dict())
    renamed = dict(state)
    renamed["fc.weight"] = renamed.pop("head.weight")
    with pytest.raises(ValueError, match=r"first mismatching key 'head.weight': missing"):
        check_musiq_state_dict(model, renamed, "ckpt")
    resized = dict(state)
    resized["transformer_encoder.posembed_input.position_emb"] = torch.zeros(1, 64, 384)
    with pytest.raises(ValueError, match=r"position_emb': shape \[1, 64, 384\] in the checkpoint"):
        check_musiq_state_dict(model, resized, "ckpt")
    extra = dict(state)
    extra["head.extra"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"first mismatching key 'head.extra': not a MUSIQ"):
        check_musiq_state_dict(model, extra, "ckpt")
    check_musiq_state_dict(model, state, "ckpt")  # the right keys pass
    # through load_musiq, from a file (a KonIQ-style or unrelated checkpoint)
    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(2, 3, 1, 1)}, path)
    with pytest.raises(ValueError, match=r"other.pth does not fit MUSIQ .*'conv_root.weight'"):
        load_musiq(path)
