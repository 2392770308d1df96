"""Video files: writing (:mod:`freqlab.video.write`: GIF/MP4, atomic, ``save_video``) and reading
(:mod:`freqlab.video.read`: folders of mp4/avi/gif as uint8 tensors, ``read_video``,
``VideoFolder``), both through PyAV.

Videos in memory are ``(T, C, H, W)`` tensors: float in [0, 1] or uint8 to write, uint8 RGB when
read. The checks of videos given to a metric are the metrics' own (``evaluation/inputs.py``).
"""
