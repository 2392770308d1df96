"""freqlab.testbed.data: the testbed's name for the one moving-shapes generator."""

from __future__ import annotations

from freqlab.data import shapes
from freqlab.testbed import data


def test_the_testbed_imports_the_same_generator():
    for name in data.__all__:
        assert getattr(data, name) is getattr(shapes, name), name
