"""freqlab.handles: what the model-level methods' .apply() share. Here: the one refusal of a
diffusion-transformer pipeline (or its transformer alone) by every method that needs a UNet,
naming the method and the classes, with nothing attached or left behind."""

from __future__ import annotations

import pytest

from freqlab.bytheway import ByTheWay
from freqlab.freelong import FreeLong
from freqlab.freenoise import FreeNoise
from freqlab.freeu import FreeU
from freqlab.models import load_model

# method label in the message -> a method instance at its defaults (FreeU needs factors).
UNET_METHODS = {
    "FreeU": lambda: FreeU(b1=1.5, b2=1.6, s1=0.9, s2=0.2),
    "ByTheWay": ByTheWay,
    "FreeLong": FreeLong,
    "FreeNoise's window fusion": lambda: FreeNoise(context_length=2, context_stride=1),
}


def dit_state(pipe) -> tuple:
    """What an apply() could change on a DiT pipeline: its instance attributes, every hook and
    instance-level forward of its transformer, and the attention processors."""
    model = pipe.transformer
    modules = list(model.named_modules())
    return (
        dict(vars(pipe)),
        sum(len(m._forward_pre_hooks) + len(m._forward_hooks) for _, m in modules),
        [n for n, m in modules if "forward" in vars(m)],
        [type(p) for p in getattr(model, "attn_processors", {}).values()],
    )


@pytest.fixture(scope="module", params=["tiny_wan", "tiny_cogvideox", "tiny_ltx"])
def dit(request):
    return load_model(request.param)


@pytest.mark.parametrize("label", sorted(UNET_METHODS))
def test_a_dit_is_refused_naming_the_method_and_its_classes(dit, label):
    method = UNET_METHODS[label]()
    before = dit_state(dit)
    pipe_cls, model_cls = type(dit).__name__, type(dit.transformer).__name__
    with pytest.raises(ValueError) as info:
        method.apply(dit)
    assert str(info.value).startswith(
        f"{label} needs a UNet: pipe is a {pipe_cls}, whose denoiser {model_cls} is a "
        "diffusion transformer (DiT)"
    )
    with pytest.raises(ValueError, match=f"^{label} needs a UNet: pipe is a {model_cls}, a "):
        method.apply(dit.transformer)  # the transformer alone
    assert dit_state(dit) == before  # nothing attached, nothing left behind
