"""The content-addressed frame cache: where ingested overviews live and how they are written safely.

A video's key comes from its identity (size, modification time, and hashes of its first and last MiB), so
a renamed copy hits the cache and an edited file does not. Under `<root>/<key>/<variant>/` an overview is
stored as chunks of JPEG frames (`chunk_000000.npz`: times, byte offsets, concatenated JPEG bytes) plus
`manifest.json`, written last, when the overview is complete. Every file is written to a temporary name and
renamed into place, so a reader never sees half a file; readers only read complete chunks. This module
stores and loads; it does not decode video (see `ingest.py`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from agentime.errors import CacheError
from agentime.video.frames import Frame

HASH_BYTES = 1 << 20
CHUNK_RE = re.compile(r"chunk_(\d{6})\.npz")


def video_key(path: str | os.PathLike) -> str:
    """Identity of a video file: size, mtime (ns) and SHA-256 of its head and tail bytes."""
    p = Path(path)
    stat = p.stat()
    digest = hashlib.sha256(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    with open(p, "rb") as f:
        digest.update(f.read(HASH_BYTES))
        if stat.st_size > HASH_BYTES:
            f.seek(max(HASH_BYTES, stat.st_size - HASH_BYTES))
            digest.update(f.read(HASH_BYTES))
    return digest.hexdigest()[:32]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that `path` holds either its old content or all of `data`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, data: dict) -> None:
    atomic_write_bytes(path, json.dumps(data, indent=2, sort_keys=True).encode())


def encode_chunk(frames: list[Frame], quality: int) -> bytes:
    """Pack frames as JPEGs into one npz blob (no pickled objects)."""
    import cv2

    blobs = []
    for frame in frames:
        ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise CacheError(f"JPEG encoding failed for the frame at {frame.t:.3f} s")
        blobs.append(jpg.reshape(-1))
    offsets = np.cumsum([0] + [b.size for b in blobs]).astype(np.int64)
    buffer = io.BytesIO()
    np.savez(buffer, times=np.array([f.t for f in frames], np.float64), offsets=offsets,
             data=np.concatenate(blobs) if blobs else np.zeros(0, np.uint8))
    return buffer.getvalue()


def _read_chunk(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A chunk's frame times, JPEG byte offsets and concatenated JPEG bytes (nothing decoded yet)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return npz["times"], npz["offsets"], npz["data"]
    except (OSError, ValueError, KeyError) as exc:
        raise CacheError(f"cache chunk {path} is unreadable ({exc}); delete its folder to re-ingest") from exc


def _decode_jpeg(path: Path, jpeg: np.ndarray, t: float) -> Frame:
    import cv2

    bgr = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    if bgr is None:
        raise CacheError(f"cache chunk {path} holds a broken frame; delete its folder to re-ingest")
    return Frame(float(t), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def decode_chunk(path: Path) -> list[Frame]:
    times, offsets, data = _read_chunk(path)
    return [_decode_jpeg(path, data[offsets[i]:offsets[i + 1]], t) for i, t in enumerate(times)]


class ChunkFrames:
    """One chunk's frames by time, each decoded when first asked for: a search reads a few frames of many
    chunks, and decoding a whole chunk for one frame would cost tens of frames."""

    def __init__(self, path: Path):
        self.path = path
        self._times, self._offsets, self._data = _read_chunk(path)
        self._index = {float(t): i for i, t in enumerate(self._times)}
        self._decoded: dict[int, Frame] = {}

    def get(self, t: float) -> Frame | None:
        """The frame stored at exactly `t`, or None."""
        i = self._index.get(t)
        if i is None:
            return None
        if i not in self._decoded:
            self._decoded[i] = _decode_jpeg(self.path, self._data[self._offsets[i]:self._offsets[i + 1]],
                                            self._times[i])
        return self._decoded[i]


class OverviewStore:
    """One overview (a video sampled with one set of settings) in the cache."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    @property
    def manifest_path(self) -> Path:
        return self.directory / "manifest.json"

    def manifest(self) -> dict | None:
        """The manifest of a complete overview, or None while it is incomplete."""
        try:
            return json.loads(self.manifest_path.read_text())
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, ValueError) as exc:
            raise CacheError(f"{self.manifest_path} is unreadable ({exc}); delete it to re-ingest") from exc

    @property
    def complete(self) -> bool:
        return self.manifest() is not None

    def chunk_paths(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.iterdir() if CHUNK_RE.fullmatch(p.name))

    def write_chunk(self, index: int, frames: list[Frame], quality: int) -> Path:
        path = self.directory / f"chunk_{index:06d}.npz"
        atomic_write_bytes(path, encode_chunk(frames, quality))
        return path

    def chunk_times(self) -> list[np.ndarray]:
        """The frame times of each complete chunk, in chunk order (no pixels are read)."""
        times = []
        for path in self.chunk_paths():
            with np.load(path, allow_pickle=False) as npz:
                times.append(npz["times"])
        return times

    def last_time(self) -> tuple[int, float | None, int]:
        """(chunks written, time of the last stored frame or None, frames stored) for resuming."""
        times = self.chunk_times()
        last = next((float(t[-1]) for t in reversed(times) if t.size), None)
        return len(times), last, int(sum(t.size for t in times))

    def iter_frames(self, *, allow_partial: bool = False) -> Iterator[Frame]:
        """Stream the stored frames in time order, one chunk in memory at a time."""
        if not allow_partial and not self.complete:
            raise CacheError(f"the overview in {self.directory} is incomplete; run the ingest again to finish it")
        for path in self.chunk_paths():
            yield from decode_chunk(path)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive lock so two ingests of the same overview never interleave."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle = open(self.directory / ".lock", "w")  # noqa: SIM115 - held for the context's lifetime
        except OSError as exc:
            raise CacheError(f"cannot write the cache at {self.directory} ({exc}); set AGENTIME_CACHE to a "
                             "writable folder") from exc
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
