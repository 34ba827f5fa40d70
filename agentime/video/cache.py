"""The content-addressed frame cache: where ingested overviews live and how they are written safely.

A video's key comes from its identity (size, modification time, and hashes of its first and last MiB), so
a renamed copy hits the cache and an edited file does not. Under `<root>/<key>/<variant>/` an overview is
stored as chunks of JPEG frames (`chunk_000000.npz`: times, picture timestamps, byte offsets, concatenated
JPEG bytes) plus
`manifest.json`, written last, when the overview is complete. Every file is written to a temporary name and
renamed into place, so a reader never sees half a file; readers only read complete chunks. Damage (a chunk
cut short or with flipped bytes, a gap in the chunk numbers, an unreadable manifest, temporary files left by
a killed writer) is found by `OverviewStore.repair`, which drops what is damaged so that the ingest rebuilds
it. This module stores and loads; it does not decode video (see `ingest.py`).
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
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from agentime.errors import CacheError
from agentime.video.frames import Frame

HASH_BYTES = 1 << 20
CHUNK_RE = re.compile(r"chunk_(\d{6})\.npz")
TEMP_RE = re.compile(r"\..+\.tmp")
# What numpy and zipfile raise on a cut or altered npz (the zip's CRC catches flipped bytes)
DAMAGED_CHUNK_ERRORS = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error)


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
             data=np.concatenate(blobs) if blobs else np.zeros(0, np.uint8),
             pts=np.array([-1 if f.pts is None else f.pts for f in frames], np.int64))
    return buffer.getvalue()


def _with_pts(frame: Frame, pts: int | None) -> Frame:
    return frame if pts is None else Frame(frame.t, frame.image, pts)


def _damaged(path: Path, reason: object) -> CacheError:
    return CacheError(f"cache chunk {path} is damaged ({reason}); run `agentime ingest` on the video again to "
                      "rebuild it")


def _read_chunk(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int | None]]:
    """A chunk's frame times, JPEG byte offsets, concatenated JPEG bytes (nothing decoded yet) and picture
    timestamps (`Frame.pts`, None where unknown), in one read of the file."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            times, offsets, data = npz["times"], npz["offsets"], npz["data"]
            pts = npz["pts"] if "pts" in npz.files else None
    except DAMAGED_CHUNK_ERRORS as exc:
        raise _damaged(path, exc) from exc
    if pts is None or pts.shape != (times.size,):
        return times, offsets, data, [None] * times.size
    return times, offsets, data, [None if p < 0 else int(p) for p in pts]


def _read_times(path: Path) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return npz["times"]
    except DAMAGED_CHUNK_ERRORS as exc:
        raise _damaged(path, exc) from exc


def chunk_problem(path: Path) -> str | None:
    """Why a chunk file cannot be trusted (unreadable, failed checksum, inconsistent arrays), or None."""
    return _check_chunk(path)[0]


def _check_chunk(path: Path) -> tuple[str | None, np.ndarray | None]:
    """(`chunk_problem`, the chunk's frame times when it has none)."""
    try:
        times, offsets, data, _ = _read_chunk(path)
    except CacheError as exc:
        return str(exc.__cause__ or exc), None
    if times.ndim != 1 or times.size == 0 or not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
        return "its frame times are missing or out of order", None
    if offsets.shape != (times.size + 1,) or offsets[0] != 0 or np.any(np.diff(offsets) <= 0) \
            or offsets[-1] != data.size:
        return "its frame offsets do not match its data", None
    return None, times


def _decode_jpeg(path: Path, jpeg: np.ndarray, t: float) -> Frame:
    import cv2

    bgr = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    if bgr is None:
        raise CacheError(f"cache chunk {path} holds a broken frame; delete its folder to re-ingest")
    return Frame(float(t), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def decode_chunk(path: Path) -> list[Frame]:
    times, offsets, data, pts = _read_chunk(path)
    return [_with_pts(_decode_jpeg(path, data[offsets[i]:offsets[i + 1]], t), pts[i]) for i, t in enumerate(times)]


class ChunkFrames:
    """One chunk's frames by time, each decoded when first asked for: a search reads a few frames of many
    chunks, and decoding a whole chunk for one frame would cost tens of frames."""

    def __init__(self, path: Path):
        self.path = path
        self._times, self._offsets, self._data, self._pts = _read_chunk(path)
        self._index = {float(t): i for i, t in enumerate(self._times)}
        self._decoded: dict[int, Frame] = {}

    def get(self, t: float) -> Frame | None:
        """The frame stored at exactly `t`, or None."""
        i = self._index.get(t)
        if i is None:
            return None
        if i not in self._decoded:
            jpeg = self._data[self._offsets[i]:self._offsets[i + 1]]
            self._decoded[i] = _with_pts(_decode_jpeg(self.path, jpeg, self._times[i]), self._pts[i])
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
        return [_read_times(path) for path in self.chunk_paths()]

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

    def chunk_stamps(self) -> list[list]:
        """[name, size, modification time in ns] of each chunk: what a manifest records to know later that a
        chunk was not touched since it was written."""
        return [[p.name, (s := p.stat()).st_size, s.st_mtime_ns] for p in self.chunk_paths()]

    def first_damage(self, unchanged: dict[str, tuple[int, int]] | None = None) -> tuple[int, str] | None:
        """(index of the first chunk that is damaged or missing, why), or None when every chunk checks out.

        Every chunk is read whole, so its zip checksums are verified, except those whose (size, mtime) is the
        one `unchanged` recorded for its name: they were written whole (atomically) and not touched since,
        so they are not read (a reader still checks what it reads). Numbering must run 0, 1, 2, ... and times must increase from chunk to
        chunk; with `unchanged`, exactly the recorded chunks must be there."""
        previous_end = -np.inf
        paths = self.chunk_paths()
        if unchanged is not None and len(paths) != len(unchanged):
            return min(len(paths), len(unchanged)), f"{self.directory} holds {len(paths)} chunks, its manifest " \
                                                    f"{len(unchanged)}"
        for expected, path in enumerate(paths):
            if path.name != f"chunk_{expected:06d}.npz":
                return expected, f"{self.directory / f'chunk_{expected:06d}.npz'} is missing"
            if unchanged is not None and _stamp(path) == unchanged.get(path.name):
                problem, times = None, None  # not read: an hours-long overview is hundreds of MB
            else:
                problem, times = _check_chunk(path)
            if problem is None and times is not None:
                problem = "its times overlap the previous chunk" if times[0] <= previous_end else None
                previous_end = float(times[-1])
            if problem is not None:
                return expected, f"{path} is damaged ({problem})"
        return None

    def temporary_files(self) -> list[Path]:
        """What killed writers left behind (`.chunk_*.npz.*.tmp`, `.manifest.json.*.tmp`)."""
        if not self.directory.is_dir():
            return []
        return [p for p in self.directory.iterdir() if TEMP_RE.fullmatch(p.name) and p.is_file()]

    def remove_temporary_files(self) -> list[Path]:
        """Delete the temporary files of killed writers; hold the lock (a live writer's are not left over)."""
        removed = []
        for path in self.temporary_files():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
        return removed

    def drop(self, from_chunk: int = 0) -> int:
        """Delete the manifest and the chunks from `from_chunk` on; return how many chunks were deleted."""
        with contextlib.suppress(FileNotFoundError):
            self.manifest_path.unlink()
        dropped = 0
        for path in self.chunk_paths():
            if int(CHUNK_RE.fullmatch(path.name).group(1)) >= from_chunk:
                path.unlink()
                dropped += 1
        return dropped

    def repair(self, cache_format: int | None = None) -> list[str]:
        """Make the stored overview trustworthy again (hold the lock): remove temporary files, drop an
        unreadable or outdated manifest, and drop the first damaged chunk with every chunk after it, so that
        resuming the ingest rebuilds them. Returns one readable line per repair."""
        notes = []
        removed = self.remove_temporary_files()
        if removed:
            notes.append(f"removed {len(removed)} temporary file(s) an interrupted ingest left in {self.directory}")
        try:
            manifest = self.manifest()
        except CacheError:
            self.manifest_path.unlink()
            notes.append(f"{self.manifest_path} was unreadable; dropped it, the overview is checked and completed")
            manifest = None
        if manifest is not None and cache_format is not None and manifest.get("format") != cache_format:
            dropped = self.drop(0)
            notes.append(f"the overview in {self.directory} was stored in an older format "
                         f"({manifest.get('format')}); dropped its {dropped} chunks to rebuild it")
        damage = self.first_damage()
        if damage is not None:
            index, why = damage
            dropped = self.drop(index)
            notes.append(f"cache chunk {why}; dropped it and the chunks after it ({dropped} in all), rebuilding "
                         "them")
        return notes

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
