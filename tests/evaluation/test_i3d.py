"""evaluation.i3d: the I3D Kinetics-400 network of FVD, against the published checkpoint's layout
(``i3d_pretrained_400.pt``: VideoGPT's conversion of TF-Hub ``deepmind/i3d-kinetics-400/1``, the
file TATS and cd-fvd load), its TF "SAME" padding and its units computed by hand; offline weights
and their errors."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F

from evaluation.i3d import (
    BN_EPS_PYTORCH_PORT,
    BN_EPS_TF,
    I3D_FILENAME,
    I3D_HUB_ID,
    I3D_ORIGINAL_URL,
    InceptionBlock,
    InceptionI3d,
    Unit3D,
    _same_padding,
    load_i3d,
    resolve_i3d_weights,
)
from freqlab.hub import WeightsNotFoundError

# The published checkpoint, from the architecture of the PyTorch port that loads it (cd-fvd's
# third_party/i3d/pytorch_i3d.py, VideoGPT's videogpt/fvd/pytorch_i3d.py): conv units
# (name, in, out, kernel) and the Inception blocks' branch widths (b0, b1a, b1b, b2a, b2b, b3b).
STEM = [("Conv3d_1a_7x7", 3, 64, 7), ("Conv3d_2b_1x1", 64, 64, 1), ("Conv3d_2c_3x3", 64, 192, 3)]
BLOCKS = [
    ("Mixed_3b", 192, (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", 256, (128, 128, 192, 32, 96, 64)),
    ("Mixed_4b", 128 + 192 + 96 + 64, (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", 192 + 208 + 48 + 64, (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", 160 + 224 + 64 + 64, (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", 128 + 256 + 64 + 64, (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", 112 + 288 + 64 + 64, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5b", 256 + 320 + 128 + 128, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", 256 + 320 + 128 + 128, (384, 192, 384, 48, 128, 128)),
]
# 57 conv + batch-norm units x 5 tensors + the logits' weight and bias.
NUM_TENSORS = 287
NUM_PARAMETERS = 12_697_264  # conv weights, batch-norm weight (ones) and bias, logits
# The file's tensor data (running statistics included) in bytes: the published file is 50.9 MB
# (Hugging Face listing), this plus its pickle.
TENSOR_BYTES = 50_847_296


def published_shapes() -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}

    def unit(name: str, cin: int, cout: int, k: int) -> None:
        shapes[f"{name}.conv3d.weight"] = (cout, cin, k, k, k)
        for stat in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{name}.bn.{stat}"] = (cout,)

    for name, cin, cout, k in STEM:
        unit(name, cin, cout, k)
    for name, cin, (c0, c1a, c1b, c2a, c2b, c3b) in BLOCKS:
        unit(f"{name}.b0", cin, c0, 1)
        unit(f"{name}.b1a", cin, c1a, 1)
        unit(f"{name}.b1b", c1a, c1b, 3)
        unit(f"{name}.b2a", cin, c2a, 1)
        unit(f"{name}.b2b", c2a, c2b, 3)
        unit(f"{name}.b3b", cin, c3b, 1)
    shapes["logits.conv3d.weight"] = (400, 1024, 1, 1, 1)
    shapes["logits.conv3d.bias"] = (400,)
    return shapes


def published_like(seed: int = 0) -> OrderedDict[str, torch.Tensor]:
    """A checkpoint laid out as the published one (an OrderedDict of float tensors, no
    num_batches_tracked), with random values."""
    gen = torch.Generator().manual_seed(seed)
    state = OrderedDict()
    for key, shape in published_shapes().items():
        tensor = torch.randn(shape, generator=gen) * 0.05
        if key.endswith("running_var"):
            tensor = tensor.abs() + 0.5
        state[key] = tensor
    return state


@pytest.fixture(scope="module")
def model() -> InceptionI3d:
    return InceptionI3d().eval()


def test_state_dict_keys_shapes_and_count_match_the_published_checkpoint(model):
    state = model.state_dict()
    expected = published_shapes()
    assert len(expected) == NUM_TENSORS
    assert {k: tuple(v.shape) for k, v in state.items()} == expected
    assert sum(p.numel() for p in model.parameters()) == NUM_PARAMETERS
    assert sum(v.numel() for v in state.values()) * 4 == TENSOR_BYTES
    assert not any("num_batches_tracked" in k for k in state)
    assert model.num_features == 400


def test_a_published_layout_checkpoint_loads_strictly(tmp_path):
    state = published_like()
    path = tmp_path / I3D_FILENAME
    torch.save(state, path)  # as the converter saved it: torch.save(OrderedDict)
    loaded = load_i3d(path)
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    for key, tensor in loaded.state_dict().items():
        assert torch.equal(tensor, state[key]), key
    assert load_i3d(path) is loaded  # built once per weights, device and eps
    assert load_i3d(path, bn_eps=BN_EPS_TF) is not loaded

    from safetensors.torch import save_file

    converted = tmp_path / "i3d_pretrained_400.safetensors"
    save_file(dict(state), str(converted))
    assert torch.equal(
        load_i3d(converted).logits.conv3d.bias, state["logits.conv3d.bias"]
    )  # the documented conversion reads too
    assert load_i3d(tmp_path.as_posix() + "/" + I3D_FILENAME) is loaded


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda s: s.pop("Mixed_4c.b1b.bn.running_var"),
            "key 'Mixed_4c.b1b.bn.running_var' is missing",
        ),
        (
            lambda s: s.__setitem__("Mixed_3b.b0.conv3d.weight", torch.zeros(64, 192, 3, 3, 3)),
            r"key 'Mixed_3b.b0.conv3d.weight' has shape \(64, 192, 3, 3, 3\), expected "
            r"\(64, 192, 1, 1, 1\)",
        ),
        (
            lambda s: s.__setitem__("Conv3d_1a_7x7.bn.num_batches_tracked", torch.tensor(0.0)),
            "unexpected key 'Conv3d_1a_7x7.bn.num_batches_tracked'",
        ),
    ],
)
def test_a_wrong_checkpoint_names_the_first_mismatch(tmp_path, edit, message):
    state = published_like()
    edit(state)
    path = tmp_path / "wrong.pt"
    torch.save(state, path)
    with pytest.raises(ValueError, match=message):
        load_i3d(path)


def test_renamed_keys_name_the_first_expected_key(tmp_path):
    state = OrderedDict((f"module.model.{k}", v) for k, v in published_like().items())
    path = tmp_path / "prefixed.pt"
    torch.save(state, path)
    with pytest.raises(ValueError, match="key 'Conv3d_1a_7x7.conv3d.weight' is missing"):
        load_i3d(path)


def test_missing_weights_say_where_to_get_them():
    with pytest.raises(WeightsNotFoundError) as err:
        resolve_i3d_weights(argument="metrics.weights.i3d_k400")
    text = str(err.value)
    assert I3D_FILENAME in text and I3D_HUB_ID in text and I3D_ORIGINAL_URL in text
    assert f"hf download {I3D_HUB_ID} {I3D_FILENAME}" in text
    assert "metrics.weights.i3d_k400=/path/to/checkpoint" in text
    assert "nothing is downloaded" in text
    with pytest.raises(WeightsNotFoundError, match="no such file"):
        load_i3d("/nonexistent/i3d_pretrained_400.pt")


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
def test_a_torchscript_archive_is_refused(tmp_path):
    path = tmp_path / "i3d_torchscript.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))
    with pytest.raises(ValueError, match="TorchScript archive"):
        load_i3d(path)


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "pads"),
    [
        ((16, 224, 224), (7, 7, 7), (2, 2, 2), [2, 3, 2, 3, 2, 3]),  # k - s = 5 (divisible)
        ((9, 193, 193), (7, 7, 7), (2, 2, 2), [3, 3, 3, 3, 3, 3]),  # k - n % s = 6 (odd sizes)
        ((8, 56, 56), (1, 3, 3), (1, 2, 2), [0, 1, 0, 1, 0, 0]),  # MaxPool3d_2a: W, H, then T
        ((4, 7, 7), (3, 3, 3), (1, 1, 1), [1, 1, 1, 1, 1, 1]),
        ((3, 7, 7), (2, 2, 2), (2, 2, 2), [0, 1, 0, 1, 0, 1]),  # MaxPool3d_5a, odd sizes
        ((4, 8, 8), (1, 1, 1), (1, 1, 1), [0, 0, 0, 0, 0, 0]),
    ],
)
def test_tf_same_padding(size, kernel, stride, pads):
    assert _same_padding(size, kernel, stride) == pads


def manual_unit(unit: Unit3D, x: torch.Tensor, pads: list[int]) -> torch.Tensor:
    """conv (zero-padded as given) -> (x - mean) / sqrt(var + eps) * weight + bias -> ReLU."""
    y = F.conv3d(F.pad(x, pads), unit.conv3d.weight, stride=unit.conv3d.stride)
    bn = unit.bn
    shape = (1, -1, 1, 1, 1)
    y = (y - bn.running_mean.view(shape)) / torch.sqrt(bn.running_var.view(shape) + bn.eps)
    return torch.relu(y * bn.weight.view(shape) + bn.bias.view(shape))


def randomise(module: torch.nn.Module, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            values = torch.randn(tensor.shape, generator=gen)
            tensor.copy_(values.abs() + 0.5 if name.endswith("running_var") else values * 0.3)


def test_unit_is_padded_conv_batch_norm_relu():
    unit = Unit3D(3, 4, (3, 3, 3), (2, 2, 2), bn_eps=BN_EPS_TF).eval()
    randomise(unit)
    x = torch.randn(2, 3, 5, 7, 6, generator=torch.Generator().manual_seed(1))
    # T=5, H=7 (odd): total max(3 - 1, 0) = 2 -> (1, 1); W=6 (even): max(3 - 2, 0) = 1 -> (0, 1)
    expected = manual_unit(unit, x, [0, 1, 1, 1, 1, 1])
    torch.testing.assert_close(unit(x), expected, rtol=1e-5, atol=1e-5)
    assert unit(x).shape == (2, 4, 3, 4, 3)


def test_inception_block_concatenates_four_branches():
    block = InceptionBlock(4, (2, 3, 5, 1, 2, 3), BN_EPS_PYTORCH_PORT).eval()
    randomise(block, seed=2)
    x = torch.relu(torch.randn(1, 4, 3, 5, 5, generator=torch.Generator().manual_seed(3)))
    same3 = [1, 1, 1, 1, 1, 1]
    b1 = manual_unit(block.b1b, manual_unit(block.b1a, x, [0] * 6), same3)
    b2 = manual_unit(block.b2b, manual_unit(block.b2a, x, [0] * 6), same3)
    pooled = F.max_pool3d(F.pad(x, same3, value=float("-inf")), 3, 1)  # TF ignores padding
    b3 = manual_unit(block.b3b, pooled, [0] * 6)
    expected = torch.cat([manual_unit(block.b0, x, [0] * 6), b1, b2, b3], dim=1)
    torch.testing.assert_close(block(x), expected, rtol=1e-5, atol=1e-5)
    assert block(x).shape == (1, 2 + 5 + 2 + 3, 3, 5, 5)


def test_forward_at_the_smallest_size_on_random_weights(model):
    # 9 frames of 193 x 193: the smallest clip the (2, 7, 7) pool takes after strides 8 and 32
    x = torch.rand(1, 3, 9, 193, 193, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.inference_mode():
        logits = model(x)
        features = model.forward_features(x)
    assert logits.shape == (1, 400) and torch.isfinite(logits).all()
    assert features.shape == (1, 1024, 2, 7, 7)
    with torch.inference_mode():  # the logits: (2, 7, 7) average pool, 1x1x1 conv with bias
        pooled = features.mean(dim=(2, 3, 4))
        by_hand = pooled @ model.logits.conv3d.weight.flatten(1).T + model.logits.conv3d.bias
    torch.testing.assert_close(logits, by_hand, rtol=1e-4, atol=1e-5)


def test_forward_refuses_clips_too_small(model):
    with pytest.raises(ValueError, match="at least 9 frames"):
        model(torch.zeros(1, 3, 8, 224, 224))
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        model(torch.zeros(1, 16, 3, 224, 224))


def test_batch_norm_epsilon_is_set_everywhere():
    tf = InceptionI3d(bn_eps=BN_EPS_TF)
    eps = {m.eps for m in tf.modules() if hasattr(m, "running_var")}
    assert eps == {BN_EPS_TF}
    eps = {m.eps for m in InceptionI3d().modules() if hasattr(m, "running_var")}
    assert eps == {BN_EPS_PYTORCH_PORT}
