"""freqlab: training-free frequency-domain methods (FreeInit, FreeU, FreqPrior, FreeNoise, ByTheWay,
FreeLong) for video diffusion."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from freqlab.spectral import (
    FILTER_METHODS,
    FREEU_VARIANTS,
    freeu_backbone_scale,
    freeu_skip_filter,
    freq_mix_3d,
    frequency_band_index,
    highpass_filter,
    lowpass_filter,
    snr_by_frequency,
)

if TYPE_CHECKING:
    from freqlab.bytheway import ByTheWay, ByTheWayHandle
    from freqlab.freeinit import FreeInit, FreeInitResult
    from freqlab.freelong import FreeLong, FreeLongHandle
    from freqlab.freenoise import FreeNoise, FreeNoiseHandle
    from freqlab.freeu import FreeU, FreeUHandle
    from freqlab.freqprior import FreqPrior, FreqPriorResult
    from freqlab.models import load_model
    from freqlab.vae import decode_latents

__version__ = "0.1.0"

# Names whose modules import diffusers (seconds): loaded on first use, so that `import freqlab`
# and the spectral functions stay fast.
_LAZY = {
    "ByTheWay": "freqlab.bytheway",
    "ByTheWayHandle": "freqlab.bytheway",
    "FreeLong": "freqlab.freelong",
    "FreeLongHandle": "freqlab.freelong",
    "decode_latents": "freqlab.vae",
    "FreeInit": "freqlab.freeinit",
    "FreeInitResult": "freqlab.freeinit",
    "FreeNoise": "freqlab.freenoise",
    "FreeNoiseHandle": "freqlab.freenoise",
    "FreqPrior": "freqlab.freqprior",
    "FreqPriorResult": "freqlab.freqprior",
    "FreeU": "freqlab.freeu",
    "FreeUHandle": "freqlab.freeu",
    "load_model": "freqlab.models",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'freqlab' has no attribute {name!r}")


__all__ = [
    "FILTER_METHODS",
    "FREEU_VARIANTS",
    "ByTheWay",
    "ByTheWayHandle",
    "FreeInit",
    "FreeInitResult",
    "FreeLong",
    "FreeLongHandle",
    "FreeNoise",
    "FreeNoiseHandle",
    "FreeU",
    "FreqPrior",
    "FreqPriorResult",
    "FreeUHandle",
    "decode_latents",
    "freeu_backbone_scale",
    "freeu_skip_filter",
    "freq_mix_3d",
    "frequency_band_index",
    "highpass_filter",
    "load_model",
    "lowpass_filter",
    "snr_by_frequency",
]
