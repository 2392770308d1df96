"""evaluation.amt: AMT-S has amt-s.pth's 213 tensors (2,990,543 parameters) under the published
names and shapes, runs on random weights at a small size, warps and looks up correlation as
described, follows VBench's scale rule, finds its weights offline only, loads them strictly
(first mismatch named) and reads a checkpoint with extra pickled objects without running them."""

from __future__ import annotations

import collections
import math
import os
import pathlib

import numpy as np
import pytest
import torch

from evaluation.amt import (
    AMT_S_NUM_PARAMETERS,
    AMT_S_NUM_TENSORS,
    AMTS,
    BidirCorrelation,
    backward_warp,
    check_amt_checkpoint,
    load_amt,
    load_amt_state_dict,
    main,
    resolve_amt_weights,
    vbench_scale,
)
from evaluation.checkpoints import load_state_dict
from freqlab.hub import WeightsNotFoundError


def published_shapes() -> dict[str, tuple[int, ...]]:
    """amt-s.pth's keys and shapes, written from the reference's table (metrics-more.md 2.2),
    independently of evaluation.amt."""
    shapes: dict[str, tuple[int, ...]] = {}

    def conv(prefix, cout, cin, k):
        shapes[f"{prefix}.weight"] = (cout, cin, k, k)
        shapes[f"{prefix}.bias"] = (cout,)

    def prelu(prefix, c):
        shapes[f"{prefix}.weight"] = (c,)

    def conv_prelu(prefix, cout, cin):
        conv(f"{prefix}.0", cout, cin, 3)
        prelu(f"{prefix}.1", cout)

    conv("feat_encoder.conv1", 32, 3, 7)
    blocks = [("layer1.0", 32, 32), ("layer1.1", 32, 32), ("layer2.0", 32, 64)]
    blocks += [("layer2.1", 64, 64), ("layer3.0", 64, 96), ("layer3.1", 96, 96)]
    for name, cin, cout in blocks:
        prefix = f"feat_encoder.{name}"
        conv(f"{prefix}.conv1", cout // 4, cin, 1)
        conv(f"{prefix}.conv2", cout // 4, cout // 4, 3)
        conv(f"{prefix}.conv3", cout, cout // 4, 1)
        if cin != cout:
            conv(f"{prefix}.downsample.0", cout, cin, 1)
    conv("feat_encoder.conv2", 84, 96, 1)
    for i, (cin, cout) in enumerate([(3, 20), (20, 32), (32, 44), (44, 56)], 1):
        conv_prelu(f"encoder.pyramid{i}.0", cout, cin)
        conv_prelu(f"encoder.pyramid{i}.1", cout, cout)
    for name, cin, c, t_out in [
        ("decoder4", 113, 112, 48),
        ("decoder3", 136, 132, 36),
        ("decoder2", 100, 96, 24),
        ("decoder1", 64, 60, 24),
    ]:
        conv_prelu(f"{name}.convblock.0", c, cin)
        res = f"{name}.convblock.1"
        conv_prelu(f"{res}.conv1", c, c)
        conv_prelu(f"{res}.conv2", 20, 20)
        conv_prelu(f"{res}.conv3", c, c)
        conv_prelu(f"{res}.conv4", 20, 20)
        conv(f"{res}.conv5", c, c, 3)
        prelu(f"{res}.prelu", c)
        shapes[f"{name}.convblock.2.weight"] = (c, t_out, 4, 4)  # ConvTranspose2d: [in, out]
        shapes[f"{name}.convblock.2.bias"] = (t_out,)
    for name, cdim in [("update4", 44), ("update3", 32), ("update2", 20)]:
        conv(f"{name}.convc1", 64, 392, 1)
        conv(f"{name}.convf1", 40, 4, 7)
        conv(f"{name}.convf2", 20, 40, 3)
        conv(f"{name}.conv", 68, 84, 3)
        conv(f"{name}.gru.0", 76, 68 + 4 + cdim, 3)
        conv(f"{name}.gru.2", 76, 76, 3)
        conv(f"{name}.feat_head.0", 76, 76, 3)
        conv(f"{name}.feat_head.2", cdim, 76, 3)
        conv(f"{name}.flow_head.0", 76, 76, 3)
        conv(f"{name}.flow_head.2", 4, 76, 3)
    conv("comb_block.0", 18, 9, 3)
    prelu("comb_block.1", 18)
    conv("comb_block.2", 3, 18, 3)
    return shapes


@pytest.fixture(scope="module")
def state():
    """A state dict of AMT-S that differs from the seed-0 random init."""
    torch.manual_seed(5)
    return {k: v.clone() for k, v in AMTS().state_dict().items()}


@pytest.fixture(autouse=True)
def no_vbench_cache(monkeypatch, tmp_path):
    """VBench's cache is empty too (the offline fixture empties the HF and torch caches)."""
    monkeypatch.setenv("VBENCH_CACHE_DIR", str(tmp_path / "vbench"))


def test_architecture_matches_the_published_checkpoint():
    spec = published_shapes()
    assert len(spec) == AMT_S_NUM_TENSORS == 213
    assert sum(math.prod(s) for s in spec.values()) == AMT_S_NUM_PARAMETERS == 2_990_543
    model = AMTS()
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == spec
    assert sum(p.numel() for p in model.parameters()) == 2_990_543
    assert not list(model.buffers())  # instance norms without affine weights or statistics


def test_forward_at_a_small_size():
    torch.manual_seed(0)
    model = AMTS().eval()
    gen = torch.Generator().manual_seed(1)
    img0 = torch.rand(2, 3, 128, 144, generator=gen)
    img1 = (img0 + 0.1 * torch.rand(2, 3, 128, 144, generator=gen)).clamp(0, 1)
    with torch.inference_mode():
        out = model(img0, img1)
        alone = model(img0[1:], img1[1:], torch.tensor(0.5))
    assert out.shape == (2, 3, 128, 144)
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    # Samples are independent (instance norm, per-sample mean): batching changes nothing.
    torch.testing.assert_close(out[1:], alone, atol=1e-5, rtol=0)


def test_forward_with_downscaled_flows():
    torch.manual_seed(0)
    model = AMTS().eval()
    gen = torch.Generator().manual_seed(2)
    img0, img1 = torch.rand(2, 1, 3, 256, 256, generator=gen)
    with torch.inference_mode():
        out = model(img0, img1, 0.5, scale_factor=0.5)  # flows estimated at 128 x 128
    assert out.shape == (1, 3, 256, 256) and torch.isfinite(out).all()


@pytest.mark.parametrize(
    ("shape", "scale"), [((64, 64), 1.0), ((136, 144), 1.0), ((128, 128), 0.5)]
)
def test_forward_refuses_sizes_it_cannot_take(shape, scale):
    frames = torch.rand(1, 3, *shape)
    with pytest.raises(ValueError, match="multiples of 16 and at least 128"):
        AMTS()(frames, frames, 0.5, scale_factor=scale)


def test_backward_warp():
    image = torch.arange(2 * 4 * 5, dtype=torch.float32).reshape(2, 1, 4, 5)
    torch.testing.assert_close(backward_warp(image, torch.zeros(2, 2, 4, 5)), image)
    flow = torch.zeros(2, 2, 4, 5)
    flow[:, 0] = 1.0  # sample one pixel to the right; the last column repeats (border)
    shifted = backward_warp(image, flow)
    torch.testing.assert_close(shifted[..., :4], image[..., 1:])
    torch.testing.assert_close(shifted[..., 4], image[..., 4])
    flow = torch.zeros(2, 2, 4, 5)
    flow[:, 1] = 0.5  # half a pixel down: the mean of two rows
    torch.testing.assert_close(
        backward_warp(image, flow)[..., :3, :], (image[..., :3, :] + image[..., 1:, :]) / 2
    )


def test_correlation_lookup_ordering():
    """At level 0 with a window around each pixel, channel ``i * 7 + j`` holds the correlation
    with the pixel ``(x + i - 3, y + j - 3)``: the first window axis moves along x (AMT's
    ordering, which its weights expect)."""
    gen = torch.Generator().manual_seed(0)
    f0, f1 = torch.randn(2, 1, 6, 16, 16, generator=gen)
    corr_fn = BidirCorrelation(f0, f1, levels=4, radius=3)
    ys, xs = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    coords = torch.stack([xs, ys])[None]
    forward, backward = corr_fn(coords, coords)
    assert forward.shape == backward.shape == (1, 4 * 49, 16, 16)
    x, y = 7, 5
    for i, j in [(3, 3), (0, 3), (5, 1), (6, 6)]:
        dx, dy = i - 3, j - 3
        expected = (f0[0, :, y, x] * f1[0, :, y + dy, x + dx]).sum() / math.sqrt(6)
        torch.testing.assert_close(forward[0, i * 7 + j, y, x], expected)
        expected_t = (f1[0, :, y, x] * f0[0, :, y + dy, x + dx]).sum() / math.sqrt(6)
        torch.testing.assert_close(backward[0, i * 7 + j, y, x], expected_t)
    # Outside the map the lookup reads zeros: pixel (0, 0), offset (-3, -3).
    assert forward[0, 0, 0, 0] == 0
    # Level 1 averages 2 x 2 blocks of target pixels, at coordinates halved.
    pooled = torch.nn.functional.avg_pool2d(
        (f0[0, :, y, x, None, None] * f1[0]).sum(0)[None] / math.sqrt(6), 2
    )
    x1, y1 = 4, 3  # (8, 6) / 2
    coords_level1 = coords.clone()
    coords_level1[0, 0, y, x], coords_level1[0, 1, y, x] = 2 * x1, 2 * y1
    forward, _ = corr_fn(coords_level1, coords_level1)
    torch.testing.assert_close(forward[0, 49 + 24, y, x], pooled[0, y1, x1])


def test_vbench_scale():
    assert vbench_scale(320, 512) == 1.0  # CPU: VBench's anchors
    assert vbench_scale(4320, 7680) == 1.0
    assert vbench_scale(1080, 1920, 80 * 1024**3) == 1.0  # big GPU
    # 8 GiB: s = 524288 / 2073600 * sqrt(5692 / 1500) = 0.49253; 16 / sqrt(s) = 22.80 -> 22
    scale = vbench_scale(1080, 1920, 8 * 1024**3)
    assert scale == pytest.approx(16 / 22)
    assert int(16 / scale) == 22  # the padding divisor


def test_missing_weights_say_where_and_how():
    with pytest.raises(WeightsNotFoundError) as info:
        resolve_amt_weights(argument="metrics.weights.amt_s")
    text = str(info.value)
    assert "amt-s.pth" in text
    assert "https://huggingface.co/lalala125/AMT/resolve/main/amt-s.pth" in text
    assert "hf download lalala125/AMT amt-s.pth" in text
    assert "metrics.weights.amt_s=/path/to/checkpoint" in text
    assert "amt_model" in text  # VBench's cache was searched too
    with pytest.raises(WeightsNotFoundError, match="weights='/no/such/amt-s.pth'"):
        load_amt("/no/such/amt-s.pth")


def test_loads_the_training_checkpoint_strictly(tmp_path, state, monkeypatch):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    torch.save({"state_dict": state}, folder / "amt-s.pth")
    model = load_amt(folder)  # a directory holding amt-s.pth
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    # VBench's cache location is accepted as well
    cache = tmp_path / "vbench_cache"
    (cache / "amt_model").mkdir(parents=True)
    torch.save({"state_dict": state}, cache / "amt_model" / "amt-s.pth")
    monkeypatch.setenv("VBENCH_CACHE_DIR", str(cache))
    assert resolve_amt_weights().kind == "cache"
    random = load_amt("random")
    assert random is load_amt("random")  # built once
    assert not torch.equal(random.comb_block[0].weight, state["comb_block.0.weight"])


def _with_pickled_objects(path: pathlib.Path, state: dict, tripwire: pathlib.Path) -> None:
    """A checkpoint as a training run might save it: epoch, a numpy scalar, and an object whose
    unpickling would create ``tripwire`` if anything called it."""

    class Trap:
        def __reduce__(self):
            return (pathlib.Path.touch, (tripwire,))

    ckpt = collections.OrderedDict(epoch=299, state_dict=state)
    ckpt["best_psnr"] = np.float64(29.7)
    ckpt["trap"] = Trap()
    torch.save(ckpt, path)


def test_extra_pickled_objects_are_skipped_without_running_them(tmp_path, state):
    path, tripwire = tmp_path / "amt-s.pth", tmp_path / "tripped"
    _with_pickled_objects(path, state, tripwire)
    with pytest.raises(ValueError, match="Unsupported global"):
        load_state_dict(path)  # the project's plain reader refuses it
    loaded = load_amt_state_dict(path)
    assert not tripwire.exists()
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    model = load_amt(path)
    assert torch.equal(model.comb_block[2].bias, state["comb_block.2.bias"])
    assert not tripwire.exists()
    # The check is real: an unrestricted load would have run the trap.
    torch.load(path, weights_only=False)
    assert tripwire.exists()


def test_convert_writes_a_plain_safetensors_file(tmp_path, state, capsys):
    src, dst = tmp_path / "amt-s.pth", tmp_path / "amt-s.safetensors"
    _with_pickled_objects(src, state, tmp_path / "tripped")
    main(["convert", str(src), str(dst)])
    out = capsys.readouterr().out
    assert "wrote 213 tensors (2,990,543 parameters)" in out
    assert "is not the published amt-s.pth (sha256" in out
    plain = load_state_dict(dst)
    assert all(torch.equal(plain[k], state[k]) for k in state)
    assert not (tmp_path / "tripped").exists()
    umask = os.umask(0)
    os.umask(umask)
    assert dst.stat().st_mode & 0o777 == 0o666 & ~umask  # the user's umask, not 0600


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.pop("update3.gru.0.weight"), "missing key 'update3.gru.0.weight'"),
        (
            lambda s: s.__setitem__("comb_block.1.weight", torch.zeros(9)),
            "key 'comb_block.1.weight' has shape [9] in the file, [18] in AMT-S",
        ),
        (lambda s: s.__setitem__("head.weight", torch.zeros(1)), "unexpected key 'head.weight'"),
    ],
)
def test_wrong_keys_name_the_first_mismatch(tmp_path, state, edit, message):
    bad = dict(state)
    edit(bad)
    path = tmp_path / "bad.pth"
    torch.save({"state_dict": bad}, path)
    with pytest.raises(ValueError, match="not an AMT-S checkpoint") as info:
        check_amt_checkpoint(path)
    assert message in str(info.value)
    with pytest.raises(ValueError, match="not an AMT-S checkpoint"):
        load_amt(path)
