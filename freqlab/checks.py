"""Argument checks shared by freqlab's functions: one home, one wording.

Each check returns the value (normalised where said) or raises ``ValueError`` naming the
parameter, so a library call fails where bad input enters. The runner
(:mod:`experiments.settings`) prefixes these messages with the config key.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["check_bool", "check_int", "check_number"]


def check_int(name: str, value: object, minimum: int = 1) -> int:
    """``value`` as an ``int >= minimum`` (numpy integers accepted, bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_bool(name: str, value: object) -> bool:
    """``value`` if it is a bool (``"maybe"``, 0 and 1 are refused)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be a bool, got {value!r}")
    return value


def check_number(
    name: str, value: object, low: float | None = None, high: float | None = None
) -> float:
    """``value`` as a finite float in ``[low, high]`` (either bound optional)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if (low is not None and number < low) or (high is not None and number > high):
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value!r}")
    return number
