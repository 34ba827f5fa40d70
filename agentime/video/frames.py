"""The frame type every layer passes around: an RGB image bound to its time in the video.

Holds data only; decoding lives in `sampling.py`, prompt formatting in `tafr.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Frame:
    """One video frame: `t` is seconds from the first displayed frame of the video, `image` an HxWx3 uint8 RGB
    array as displayed (turned, square pixels).

    `pts`, when known, identifies the decoded picture exactly: its presentation timestamp in the video
    stream's time base, counted from the first displayed frame (`t` is `pts` times that time base, rounded
    once). Two frames of one video with the same `pts` are the same picture, whichever path decoded them
    (the overview cache or the file)."""

    t: float
    image: np.ndarray
    pts: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.image, np.ndarray) or self.image.ndim != 3 or self.image.shape[2] != 3:
            shape = getattr(self.image, "shape", None)
            raise ValueError(f"Frame.image must be an HxWx3 RGB array, got shape {shape}")
        if self.image.dtype != np.uint8:
            raise ValueError(f"Frame.image must be uint8, got {self.image.dtype}")
        if not np.isfinite(self.t) or self.t < 0:
            raise ValueError(f"Frame.t must be a finite number of seconds >= 0, got {self.t}")

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])
