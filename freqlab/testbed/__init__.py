"""A small text-to-video diffusion model trained on CPU on synthetic shape videos (the testbed).

:mod:`freqlab.testbed.data` generates the clips and captions, :mod:`freqlab.testbed.model` builds
the AnimateDiff-architecture components and loads the shipped weights, :mod:`freqlab.testbed.train`
trains them.
"""
