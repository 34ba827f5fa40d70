"""Shrink frames before an image processor sees them, to exactly the pixels it would make itself.

A PIL-backend image processor starts with a resize (SigLIP: to its height x width; Idefics3 and SmolVLM: to
a longest edge). Run on a full video frame, that resize and the array <-> PIL conversions around it cost
more than a small model's forward pass. `Prescaler` does the same first resize once, with PIL and the
processor's own output size and resampling, so the processor's own resize becomes a copy. It trusts
nothing: the first frame of each input shape goes through the processor both ways, and the shortcut is used
for that shape only if the pixel values are bit-identical (nearest-neighbour resizes then take PIL's own rows
and columns by indexing); enlargements are left to the processor. A frame given with its `Frame` (immutable,
made once per decoded picture) is remembered, shrunk, while that `Frame` lives (at most `_REMEMBERED_BYTES`
in all), since search scores the same frame against several statements and re-shows its evidence; bare
arrays, which callers may refill in place, are shrunk every time.

It knows nothing of models or prompts; a processor it cannot check is used as is.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict

import numpy as np

_REMEMBERED_BYTES = 32 * 2**20  # shrunk frames kept, oldest dropped first (a few KB each for small models)


def is_pil_image_processor(image_processor) -> bool:
    """Whether transformers' PIL backend (numpy and PIL, one image at a time) runs this image processor."""
    return any(cls.__name__ == "PilBackend" for cls in type(image_processor).__mro__)


def identical_outputs(got, want) -> bool:
    """Whether two image processor outputs hold the same keys with bit-identical values of the same dtypes."""
    if set(got.keys()) != set(want.keys()):
        return False
    for key in want.keys():
        if isinstance(want[key], list):
            if got[key] != want[key]:
                return False
            continue
        a, b = np.asarray(got[key]), np.asarray(want[key])
        if a.dtype != b.dtype or not np.array_equal(a, b):
            return False
    return True


def _resize_step(image_processor):
    """The processor's first resize as (size, resample), or None when it does not start with a PIL resize."""
    if not getattr(image_processor, "do_resize", False) or not hasattr(image_processor, "resize"):
        return None
    if not is_pil_image_processor(image_processor):
        return None
    size = getattr(image_processor, "size", None)
    resample = getattr(image_processor, "resample", None)
    if size is None or not isinstance(resample, int):
        return None
    return size, int(resample)


class Prescaler:
    """Callable: an HxWx3 uint8 frame -> the same frame shrunk as the processor's first resize would shrink it
    (or the frame itself where that shortcut is not exact for its shape)."""

    def __init__(self, image_processor):
        self._processor = image_processor
        self._step = _resize_step(image_processor)
        self._sizes: dict[tuple, tuple[int, int] | None] = {}  # input shape -> (width, height), None: use as is
        self._picks: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}  # input shape -> nearest rows, columns
        self._shrunk: OrderedDict[int, tuple[weakref.ref, np.ndarray]] = OrderedDict()
        self._shrunk_bytes = 0
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return self._step is not None

    def __call__(self, image: np.ndarray, frame: object | None = None) -> np.ndarray:
        """`image` shrunk; `frame`, the immutable object it comes from, lets the result be remembered."""
        if self._step is None or image.ndim != 3 or image.dtype != np.uint8:
            return image
        if frame is not None:
            with self._lock:
                remembered = self._shrunk.get(id(frame))
                if remembered is not None and remembered[0]() is frame:
                    self._shrunk.move_to_end(id(frame))
                    return remembered[1]
        shape = image.shape
        if shape not in self._sizes:
            self._sizes[shape] = self._checked_size(image)
        size = self._sizes[shape]
        if size is None:
            return image
        picks = self._picks.get(shape)
        small = image[picks[0][:, None], picks[1][None, :]] if picks is not None else self._shrink(image, size)
        if frame is not None:
            with self._lock:
                previous = self._shrunk.pop(id(frame), None)
                self._shrunk_bytes += small.nbytes - (previous[1].nbytes if previous else 0)
                self._shrunk[id(frame)] = (weakref.ref(frame), small)
                while self._shrunk_bytes > _REMEMBERED_BYTES and self._shrunk:
                    self._shrunk_bytes -= self._shrunk.popitem(last=False)[1][1].nbytes
        return small

    def _shrink(self, image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        from PIL import Image

        return np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize(size, resample=self._step[1]))

    def _checked_size(self, image: np.ndarray) -> tuple[int, int] | None:
        """The processor's first-resize output (width, height) for this shape, if shrinking first is exact."""
        size, resample = self._step
        try:
            chw = np.ascontiguousarray(np.moveaxis(image, -1, 0))
            resized = self._processor.resize(chw, size=size, resample=resample)
            height, width = (int(n) for n in np.shape(resized)[-2:])
            if height * width >= image.shape[0] * image.shape[1]:
                return None  # nothing to shrink (an enlargement is left to the processor)
            small = self._shrink(image, (width, height))
            full = self._processor(images=[image], return_tensors="np")
            shortcut = self._processor(images=[small], return_tensors="np")
        except Exception:  # noqa: BLE001 - any processor that cannot be checked is simply used as is
            return None
        same = identical_outputs(shortcut, full)
        if same and resample == 0:  # nearest: the rows and columns PIL picks, taken by indexing from now on
            picks = _nearest_picks(image.shape[:2], (height, width))
            if np.array_equal(image[picks[0][:, None], picks[1][None, :]], small):
                self._picks[image.shape] = picks
        return (width, height) if same else None


def _nearest_picks(source: tuple[int, int], target: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The source rows and columns PIL's nearest-neighbour resize takes, read from resizing position ramps."""
    from PIL import Image

    (source_h, source_w), (target_h, target_w) = source, target
    ramp_rows = Image.fromarray(np.arange(source_h, dtype=np.int32)[:, None])  # 32-bit "I" mode
    ramp_cols = Image.fromarray(np.arange(source_w, dtype=np.int32)[None, :])
    rows = np.asarray(ramp_rows.resize((1, target_h), resample=Image.Resampling.NEAREST))[:, 0]
    cols = np.asarray(ramp_cols.resize((target_w, 1), resample=Image.Resampling.NEAREST))[0]
    return rows.astype(np.intp), cols.astype(np.intp)
