"""How a stored picture is shown: display-matrix rotation and mirroring, and the pixel aspect ratio.

Phones store pictures sideways and record how to turn them (a display matrix); anamorphic recordings store
pixels that are wider or taller than square (a sample aspect ratio). A person sees the picture turned and
stretched; so must the models. This module turns those facts into an orientation and an output size and
applies them to RGB arrays. It never decodes video (see `sampling.py`) and never reads files.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

ORIENTATIONS = [(rotation, mirrored) for rotation in (0, 90, 180, 270) for mirrored in (False, True)]


def orient(image: np.ndarray, rotation: int, mirrored: bool) -> np.ndarray:
    """`image` turned `rotation` degrees clockwise, then mirrored left-right if `mirrored`."""
    if rotation:
        image = np.rot90(image, k=-(rotation // 90))
    if mirrored:
        image = image[:, ::-1]
    return np.ascontiguousarray(image) if (rotation or mirrored) else image


def _apply_matrix(grid: np.ndarray, a: int, b: int, c: int, d: int) -> np.ndarray:
    """Place each pixel (x, y) of `grid` at (a x + c y, b x + d y), shifted to start at 0 (ISO/IEC 14496-12)."""
    height, width = grid.shape
    ys, xs = np.mgrid[0:height, 0:width]
    new_x, new_y = a * xs + c * ys, b * xs + d * ys
    new_x, new_y = new_x - new_x.min(), new_y - new_y.min()
    out = np.empty((int(new_y.max()) + 1, int(new_x.max()) + 1), grid.dtype)
    out[new_y, new_x] = grid
    return out


def orientation_from_matrix(matrix: bytes | np.ndarray | None) -> tuple[int, bool]:
    """(clockwise rotation in degrees, mirrored) that a display matrix asks for; (0, False) when absent.

    The matrix is FFmpeg's 3x3 int32 (16.16 fixed point) display matrix. Only multiples of 90 degrees are
    honoured, as players do; a matrix that is not one of the eight right-angle turns and mirrors counts as
    upright.
    """
    if matrix is None:
        return 0, False
    values = np.frombuffer(matrix, dtype="<i4") if isinstance(matrix, bytes | bytearray) else np.asarray(matrix)
    if values.size < 9:
        return 0, False
    a, b, c, d = (int(np.sign(round(v / 65536))) for v in values[[0, 1, 3, 4]])
    if abs(a * d - b * c) != 1:
        return 0, False
    grid = np.arange(6).reshape(2, 3)
    wanted = _apply_matrix(grid, a, b, c, d)
    for rotation, mirrored in ORIENTATIONS:
        candidate = orient(grid, rotation, mirrored)
        if candidate.shape == wanted.shape and np.array_equal(candidate, wanted):
            return rotation, mirrored
    return 0, False


def display_size(width: int, height: int, sample_aspect_ratio: Fraction, rotation: int) -> tuple[int, int]:
    """Width and height as shown: non-square pixels stretched to square ones, then turned."""
    sar = sample_aspect_ratio if sample_aspect_ratio > 0 else Fraction(1)
    if sar >= 1:
        width = int(round(width * sar))
    else:
        height = int(round(height / sar))
    return (height, width) if rotation in (90, 270) else (width, height)


def output_size(width: int, height: int, sample_aspect_ratio: Fraction, max_side: int | None) -> tuple[int, int]:
    """Size (before turning) to which a stored `width` x `height` picture is resized: square pixels, the
    longer side at most `max_side`."""
    shown_w, shown_h = display_size(width, height, sample_aspect_ratio, 0)
    scale = 1.0 if not max_side else min(1.0, max_side / max(shown_w, shown_h))
    return max(1, round(shown_w * scale)), max(1, round(shown_h * scale))


def parse_ratio(text: str | None) -> Fraction:
    """`"16:11"` (or `"16/11"`) as a Fraction; 1 for missing, zero or malformed values."""
    if not text:
        return Fraction(1)
    try:
        value = Fraction(str(text).replace(":", "/"))
    except (ValueError, ZeroDivisionError):
        return Fraction(1)
    return value if value > 0 else Fraction(1)


def format_ratio(value: Fraction) -> str:
    return f"{value.numerator}:{value.denominator}"
