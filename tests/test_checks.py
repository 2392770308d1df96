"""freqlab.checks: the shared argument checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from freqlab.checks import check_bool, check_int, check_number


def test_check_int():
    assert check_int("n", 3) == 3 and check_int("n", np.int64(2)) == 2
    assert type(check_int("n", np.int64(2))) is int
    assert check_int("seed", 0, 0) == 0
    for bad in (0, True, 1.0, "1", None):
        with pytest.raises(ValueError, match=r"n must be an int >= 1, got"):
            check_int("n", bad)


def test_check_bool():
    assert check_bool("flag", False) is False
    for bad in ("maybe", 1, 0, None):
        with pytest.raises(ValueError, match="flag must be a bool"):
            check_bool("flag", bad)


def test_check_number():
    assert check_number("x", 2) == 2.0 and check_number("x", np.float32(0.5), 0, 1) == 0.5
    with pytest.raises(ValueError, match=r"x must be in \[0, inf\], got -1"):
        check_number("x", -1, low=0)
    with pytest.raises(ValueError, match=r"x must be in \[-inf, 1\]"):
        check_number("x", 2, high=1)
    with pytest.raises(ValueError, match="x must be finite"):
        check_number("x", math.nan)
    with pytest.raises(ValueError, match="x must be a number"):
        check_number("x", True)
