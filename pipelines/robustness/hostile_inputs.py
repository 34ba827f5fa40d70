"""Hostile inputs for the reliability suite and its tests: decompression-bomb images, deep JSON, mutations.

Each builder makes a small payload that would be expensive or confusing if a component trusted it. Nothing
here talks to a server or opens a file of the project; callers send or write what these return.
"""

from __future__ import annotations

import base64
import io
import random
import struct
import zlib


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(width: int, height: int) -> bytes:
    """A valid greyscale PNG of width x height black pixels, compressed to a few hundred KB at most."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)                # filter byte + one byte per pixel
    packed = []
    for _ in range(height):
        packed.append(compressor.compress(row))
    packed.append(compressor.flush())
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", b"".join(packed))
            + _png_chunk(b"IEND", b""))


def data_url(payload: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def small_png(width: int = 32, height: int = 32, seed: int = 0) -> bytes:
    """A real RGB PNG of random pixels."""
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def nested_json(depth: int) -> bytes:
    """`depth` nested JSON arrays."""
    return b"[" * depth + b"]" * depth


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One random damage of `data`: truncation, flipped bytes, a zeroed or duplicated block, or garbage."""
    if not data:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64)))
    kind = rng.choice(("truncate", "flip", "zero", "duplicate", "insert", "empty", "head_only"))
    if kind == "truncate":
        return data[:rng.randint(0, len(data) - 1)]
    if kind == "empty":
        return b""
    if kind == "head_only":
        return data[:min(len(data), rng.choice((4, 16, 64, 512)))]
    out = bytearray(data)
    if kind == "flip":
        for _ in range(rng.randint(1, 16)):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    elif kind == "zero":
        start = rng.randrange(len(out))
        size = rng.randint(1, max(1, len(out) // 8))
        out[start:start + size] = b"\x00" * len(out[start:start + size])
    elif kind == "duplicate":
        start = rng.randrange(len(out))
        out[start:start] = out[start:start + rng.randint(1, 256)]
    else:
        start = rng.randrange(len(out))
        out[start:start] = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64)))
    return bytes(out)
