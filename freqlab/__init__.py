"""freqlab: training-free frequency-domain methods (FreeInit, FreeU) for video diffusion."""

from freqlab.decoding import decode_latents
from freqlab.freeinit import FreeInit, FreeInitResult
from freqlab.freeu import FreeU, FreeUHandle
from freqlab.models import load_model
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

__version__ = "0.1.0"

__all__ = [
    "FILTER_METHODS",
    "FREEU_VARIANTS",
    "FreeInit",
    "FreeInitResult",
    "FreeU",
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
