"""Pixel values for a batch of frames in a few array operations, for Idefics3-style image processors.

Idefics3's (and SmolVLM's) PIL image processor, with image splitting off, resizes each image to a square,
rescales, normalises and stacks the batch, one image at a time through several array conversions. For the
small frames the embedded models take, that bookkeeping costs about as much as a small model's forward pass.
`BatchPixels` stands in for such a processor inside its `AutoProcessor` and does the same in one pass: PIL's
resize per image, then one float64 rescale, one float32 normalisation and one stack, the same operations in
the same precision. It trusts nothing: the first batch of each kind (input sizes and options) also goes
through the real image processor, and only if every output is bit-identical is that kind handled here from
then on. Anything else (image splitting, other options, non-RGB images) goes to the real processor.

It knows nothing of prompts or models, and never changes what the processor computes.
"""

from __future__ import annotations

import threading

import numpy as np

from agentime.vlm.prescale import identical_outputs, is_pil_image_processor

_HANDLED_OPTIONS = {"return_row_col_info", "return_tensors"}


def batch_pixels_for(image_processor):
    """A `BatchPixels` standing in for `image_processor`, or None when its settings are not ones it handles."""
    if not is_pil_image_processor(image_processor):
        return None
    if "Idefics3" not in type(image_processor).__name__ and "SmolVLM" not in type(image_processor).__name__:
        return None
    settings = ("do_resize", "do_rescale", "do_normalize", "do_pad")
    if not all(getattr(image_processor, name, False) for name in settings):
        return None
    if getattr(image_processor, "do_image_splitting", True) or not getattr(image_processor, "max_image_size", None):
        return None
    return BatchPixels(image_processor)


class BatchPixels:
    """Callable like the image processor it stands for; every other attribute is that processor's."""

    def __init__(self, image_processor):
        self.__dict__["_real"] = image_processor
        self.__dict__["_verdicts"] = {}  # kind of batch -> whether the fast path gave bit-identical outputs
        self.__dict__["_lock"] = threading.Lock()

    def __getattr__(self, name):
        return getattr(self.__dict__["_real"], name)

    def __setattr__(self, name, value):
        setattr(self._real, name, value)

    def __call__(self, images, **options):
        nested = _nested_rgb(images)
        if nested is None or not set(options) <= _HANDLED_OPTIONS:
            return self._real(images, **options)
        kind = (frozenset(image.size for prompt in nested for image in prompt), repr(sorted(options.items())))
        verdict = self._verdicts.get(kind)
        if verdict is False:
            return self._real(images, **options)
        fast = self._pixels(nested, **options)
        if verdict is None:
            expected = self._real(images, **options)
            with self._lock:
                self._verdicts[kind] = identical_outputs(fast, expected)
            return expected
        return fast

    def _pixels(self, nested, return_row_col_info=None, return_tensors=None):
        from PIL import Image
        from transformers.feature_extraction_utils import BatchFeature

        real = self._real
        side = int(real.max_image_size["longest_edge"])
        resample = real.resample if real.resample is not None else Image.Resampling.BILINEAR
        flat = [np.asarray(image.resize((side, side), resample=resample)) for prompt in nested for image in prompt]
        scaled = (np.stack(flat).astype(np.float64) * real.rescale_factor).astype(np.float32)
        mean, std = _per_channel(real.image_mean), _per_channel(real.image_std)
        normalised = ((scaled - mean) / std).transpose(0, 3, 1, 2)  # (images, channels, side, side)
        most = max(len(prompt) for prompt in nested)
        pixel_values = np.zeros((len(nested), most, 3, side, side), dtype=np.float32)
        pixel_mask = np.zeros((len(nested), most, side, side), dtype=np.int64)
        start = 0
        for row, prompt in enumerate(nested):
            pixel_values[row, : len(prompt)] = normalised[start : start + len(prompt)]
            pixel_mask[row, : len(prompt)] = 1
            start += len(prompt)
        encoding = BatchFeature({"pixel_values": pixel_values, "pixel_attention_mask": pixel_mask},
                                tensor_type=return_tensors)
        if return_row_col_info if return_row_col_info is not None else getattr(real, "return_row_col_info", False):
            encoding["rows"] = [[0] * len(prompt) for prompt in nested]
            encoding["cols"] = [[0] * len(prompt) for prompt in nested]
        return encoding


def _per_channel(values) -> np.ndarray:
    values = list(values) if isinstance(values, (list, tuple)) else [values] * 3
    return np.array(values, dtype=np.float32)


def _nested_rgb(images):
    """Images as a list (per prompt) of lists of RGB PIL images, or None for anything else."""
    from PIL import Image

    if not isinstance(images, (list, tuple)) or not images or not all(isinstance(p, (list, tuple)) for p in images):
        return None
    nested = [list(prompt) for prompt in images]
    if not all(nested) or not all(
        isinstance(image, Image.Image) and image.mode == "RGB" for prompt in nested for image in prompt
    ):
        return None
    return nested

