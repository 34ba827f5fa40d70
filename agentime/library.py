"""A library of videos: one faiss index over many recordings, and questions that find the video first.

`Library(folder_or_paths)` ingests each video into the frame cache (resumable: the cache is keyed by content,
so an unchanged file is found, not decoded again; `add(workers=N)` prepares N videos at once in worker
processes, `library_workers`), builds each video's frame index, and keeps one `LibraryIndex` over all of them
in the library's own folder under the cache, plus one in memory over every video's transcript segments.
`watch()` follows a folder by polling. Files that are not readable videos are listed in `skipped` with the
reason and never stop the others; a video deleted after it was added is dropped from the index and answers,
with a note. `search(text, k)` returns moments across the library without a VLM (matching transcript lines
first, then frames by the embedder); `find_videos(question)` ranks the videos and lets the target look at the
best moments of the first few; `ask(question, ...)` runs the single-video search (`Session`) inside the best
candidates and returns a `LibraryAnswer` that names its video.
It holds no search strategy and no index type logic of its own.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from agentime.api import Answer, Session, validate_question
from agentime.config import DEFAULT_MODEL_SPECS, Config
from agentime.vlm.registry import load_model_roles
from agentime.errors import ConfigError
from agentime.index.library_index import LibraryIndex
from agentime.library_workers import saved_frame_index
from agentime.video.cache import atomic_write_json

HIDDEN_PREFIXES = (".", "~")
CANDIDATE_HITS = 64  # moments read from the index to rank the videos of a question
SECOND_LOOK_BELOW = 0.5  # below this confidence, the next candidate video is searched as well
VERIFIED_VIDEOS = 4  # candidate videos the target looks at before the search picks one
MOMENTS_PER_VIDEO = 2  # of each candidate video's best frames


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass(frozen=True)
class LibraryMoment:
    """A moment of one video of the library and its similarity to the query."""

    video: str  # the video's path
    t: float
    score: float
    said: str | None = None  # the transcript line that matched, when the moment was found by what was said
    end: float | None = None  # where that line ends


@dataclass
class LibraryAnswer(Answer):
    """An `Answer` found inside one video of the library: `video` names it (its spans and evidence are times
    in that video); `candidates` are the videos the index ranked first, with their scores."""

    video: str = ""
    candidates: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def moments(self) -> list[tuple[str, float, float]]:
        return [(self.video, a, b) for a, b in self.spans]


class Library:
    """Many videos behind one index; see the module docstring."""

    def __init__(self, paths_or_folder: str | os.PathLike | Sequence[str | os.PathLike], *,
                 cache: str | os.PathLike | Config | None = None, models: dict | None = None,
                 quantizer: str = "fp16", add: bool = True,
                 progress: Callable[[str, float], None] | None = None):
        self.config = cache if isinstance(cache, Config) else Config(cache_dir=Path(cache)) if cache else Config()
        self.paths, self.folder = _listed(paths_or_folder)
        self.quantizer = quantizer
        spec = {**DEFAULT_MODEL_SPECS, **(models or {})}.get("embedder")
        self._embedder_spec = spec if isinstance(spec, str) else None  # what worker processes load
        self._models = load_model_roles(models)
        self.embedder = self._models.get("embedder")
        if self.embedder is None:
            raise ConfigError("a library needs an embedder to find videos (e.g. embedded:embedder)")
        identity = str(self.folder) if self.folder else "\n".join(sorted(str(p) for p in self.paths))
        self.directory = Path(self.config.cache_dir) / "libraries" / hashlib.sha256(identity.encode()).hexdigest()[:16]
        self.progress = progress or (lambda message, fraction: None)
        self.videos: dict[str, dict] = {}  # path -> {"key", "directory", "frames", "duration"}
        self.skipped: list[SkippedFile] = []
        self.notes: list[str] = []
        self.index: LibraryIndex | None = None
        self.speech_index: LibraryIndex | None = None  # transcript segments of every video (sentence encoder)
        self._speech_encoder = None
        self._segments: dict[str, dict[float, object]] = {}  # video key -> segment start -> segment
        self._sessions: dict[str, Session] = {}
        self._seen_listing: dict[str, tuple[int, int]] = {}  # the folder as the last `add` listed it
        self._load_manifest()
        if add:
            self.add()

    # -- adding ----------------------------------------------------------------------------------------
    def add(self, workers: int = 1) -> dict:
        """Ingest every video not yet in the library (or changed since), refresh the index; a summary.

        With `workers` > 1 the videos are ingested and embedded in that many processes (`library_workers`).
        The manifest is saved after each video, so an interrupted add resumes where it stopped.
        """
        from agentime.library_workers import prepare_videos

        if self.folder is not None:
            self._seen_listing = _listing(self.folder)  # before reading: a file that changes meanwhile is seen again
            self.paths, _ = _listed(self.folder)
        self.skipped, added, unchanged = [], [], []
        self._drop_missing()
        pending = []
        for path in self.paths:
            known = self.videos.get(str(path))
            try:
                if known and known["key"] == _content_key(path) and _index_ready(known, self.embedder.name):
                    unchanged.append(str(path))
                    continue
            except OSError as exc:
                self.skipped.append(SkippedFile(str(path), _reason(exc)))
                continue
            pending.append(path)
        outcomes = prepare_videos(pending, self.config, self.embedder, self._embedder_spec, workers=workers)
        for number, (path, outcome) in enumerate(outcomes):
            self.progress(f"added {path.name}", (number + 1) / max(1, len(pending)))
            if "skipped" in outcome:
                self.skipped.append(SkippedFile(str(path), outcome["skipped"]))
                continue
            twin = next((p for p, v in self.videos.items() if v["key"] == outcome["key"] and p != str(path)), None)
            if twin is not None:
                self.skipped.append(SkippedFile(str(path), f"the same content as {twin}, already in the library"))
                continue
            self.videos[str(path)] = outcome
            added.append(str(path))
            self._save_manifest()  # after each video: an interrupted add resumes from here
        self._refresh_index()
        self.progress("library ready", 1.0)
        return {"videos": len(self.videos), "added": added, "unchanged": unchanged,
                "skipped": [vars(s) for s in self.skipped], "notes": list(self.notes),
                "index": self.index.choice.kind if self.index else None}

    def watch(self, *, interval: float = 2.0, workers: int = 1, stop: threading.Event | None = None,
              on_add: Callable[[dict], None] | None = None) -> None:
        """Add the folder's new, changed or deleted files as they come, until `stop` is set (or Ctrl-C).

        The folder is listed every `interval` seconds; a change is added once the listing has stayed the
        same for one interval, so a file still being copied is not read half-written. `on_add` gets each
        add's summary. Polling, not file-system events: it works the same on network shares and in containers.
        """
        if self.folder is None:
            raise ConfigError("only a folder can be watched; give the library a folder, not a list of files")
        stop = stop or threading.Event()
        previous = _listing(self.folder)
        while not stop.wait(interval):
            current = _listing(self.folder)
            if current != self._seen_listing and current == previous:
                summary = self.add(workers=workers)
                if on_add is not None:
                    on_add(summary)
            previous = current

    def _drop_missing(self) -> None:
        for path in list(self.videos):
            if not Path(path).is_file():
                del self.videos[path]
                self._sessions.pop(path, None)
                self.notes.append(f"{path} was deleted after it was added; it is no longer searched")
        self._save_manifest()

    def _refresh_index(self) -> None:
        keys = [v["key"] for v in self.videos.values()]
        index = self.index or LibraryIndex.load(self.directory, self.embedder.name)
        rows = sum(v["frames"] for v in self.videos.values())
        if index is None or index.videos != keys or index.needs_rebuild(rows, self.quantizer):
            parts = []
            for video in self.videos.values():
                frame_index = saved_frame_index(Path(video["directory"]), self.embedder.name)
                if frame_index is None:  # its cache went away: it is added again on the next `add`
                    continue
                parts.append((video["key"], frame_index.embeddings(), frame_index.times))
            index = LibraryIndex.build(parts, self.embedder.name, quantizer=self.quantizer, dim=getattr(self.embedder, "dim", None))
            index.save(self.directory)
        self.index = index
        self._refresh_speech()

    def _refresh_speech(self) -> None:
        """The transcript segments of every video in one index, put together from the per-video embeddings
        (kept in memory: it is small, and a sidecar file edited since is read again this way)."""
        from agentime.library_workers import transcript_index

        parts, self._segments, encoder = [], {}, None
        for path, video in self.videos.items():
            speech, _ = transcript_index(Path(path), video, self.config)
            if speech is None:
                continue
            parts.append((video["key"], speech.index.reconstruct_n(0, len(speech)),
                          np.array([s.start for s in speech.segments])))
            self._segments[video["key"]] = {s.start: s for s in speech.segments}
            encoder = speech.encoder
        self.speech_index = LibraryIndex.build(parts, "speech") if parts else None
        self._speech_encoder = encoder

    # -- manifest ----------------------------------------------------------------------------------------
    def _manifest_path(self) -> Path:
        return self.directory / "videos.json"

    def _load_manifest(self) -> None:
        try:
            data = json.loads(self._manifest_path().read_text())
            self.videos = {p: v for p, v in data["videos"].items() if {"key", "directory", "frames"} <= set(v)}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            self.videos = {}  # missing or damaged: every video is checked again (its caches make that cheap)

    def _save_manifest(self) -> None:
        atomic_write_json(self._manifest_path(), {"videos": self.videos})

    # -- questions ---------------------------------------------------------------------------------------
    def search(self, text: str, k: int = 10) -> list[LibraryMoment]:
        """The k moments across the library closest to `text`, no VLM: first the transcript lines that match
        it closely (each names what was said), then the frames closest to it by the embedder."""
        from agentime.search.prompts import look_for

        if not isinstance(text, str) or not text.strip():
            raise ConfigError("the search text is empty; describe what to find")
        self._drop_missing_from_answers()
        k = max(1, int(k))
        queries = self.embedder.embed_texts(look_for(text) or [text.strip()])
        by_key = {v["key"]: p for p, v in self.videos.items()}
        hits = self.index.search(queries, k=k * 4) if self.index else []
        seen = [LibraryMoment(by_key[h.video], h.t, h.score) for h in hits if h.video in by_key]
        return (self.speech_moments(text, k) + seen)[:k]

    def speech_moments(self, text: str, k: int = 10) -> list[LibraryMoment]:
        """The transcript lines across the library that match `text` (as the single-video search counts a
        match: above the floor, near the best line), best first."""
        from agentime.speech.search import MATCH_BAND, MATCH_FLOOR, speech_queries

        if self.speech_index is None:
            return []
        by_key = {v["key"]: p for p, v in self.videos.items()}
        vectors = self._speech_encoder.encode(speech_queries(text.strip()))
        hits = [h for h in self.speech_index.search(vectors, k=k) if h.video in by_key]
        if not hits or hits[0].score < MATCH_FLOOR:
            return []
        floor = max(MATCH_FLOOR, hits[0].score - MATCH_BAND)
        moments = []
        for hit in hits:
            segment = self._segments[hit.video][hit.t]
            if hit.score >= floor:
                moments.append(LibraryMoment(by_key[hit.video], hit.t, hit.score, said=segment.text, end=segment.end))
        return moments

    def rank_videos(self, text: str) -> list[dict]:
        """Videos ordered by their best moment (each with that moment): a video whose transcript matches the
        text comes before those found by their frames alone."""
        best: dict[str, LibraryMoment] = {}
        for moment in self.search(text, CANDIDATE_HITS):
            if moment.video not in best:  # search lists the transcript's matches first, then frames by score
                best[moment.video] = moment
        return [{"video": m.video, "score": round(m.score, 4), "t": m.t, **({"said": m.said} if m.said else {})}
                for m in best.values()]

    def find_videos(self, question: str, verify: int = VERIFIED_VIDEOS) -> list[dict]:
        """`rank_videos`, then the first `verify` videos re-ranked by the target's look at their best moments.

        The embedder alone confuses look-alikes (a white diamond for a white hexagon) across many videos; the
        target scores "There is a <thing>." on up to MOMENTS_PER_VIDEO best frames of each candidate (one
        batched call, a few frames per question) and those videos are ordered by their best yes-probability.
        A video found by what was said keeps its place: the transcript matched the words themselves.
        """
        from agentime.search.prompts import look_for, relevance_statement

        ranked = self.rank_videos(question)
        model = self._models.get("target")
        phrases = look_for(question)
        checked = [r for r in ranked[:max(0, int(verify))] if "said" not in r]
        if model is None or not phrases or len(checked) < 2:
            return ranked
        moments = self._best_moments(question, {r["video"] for r in checked})
        groups, owners = [], []
        for video, times in moments.items():
            for frame in _frames_at(Path(self.videos[video]["directory"]), times):
                groups.append([frame])
                owners.append(video)
        if not groups:
            return ranked
        seen: dict[str, float] = {}
        for phrase in phrases[:2]:
            scores = np.asarray(model.yes_probability(groups, relevance_statement(phrase)), dtype=float)
            for video, score in zip(owners, scores, strict=True):
                seen[video] = max(seen.get(video, 0.0), float(score))
        verified = sorted(checked, key=lambda r: -seen.get(r["video"], -1.0))
        for row in verified:
            row["seen"] = round(seen.get(row["video"], 0.0), 4)
        spoken = [r for r in ranked[:max(0, int(verify))] if "said" in r]
        return spoken + verified + ranked[max(0, int(verify)):]

    def _best_moments(self, text: str, videos: set[str]) -> dict[str, list[float]]:
        """Up to MOMENTS_PER_VIDEO best frame times of each of `videos` for `text` (frames only)."""
        found: dict[str, list[float]] = {}
        for moment in self.search(text, CANDIDATE_HITS * 2):
            if moment.said is None and moment.video in videos and len(found.setdefault(moment.video, [])) < MOMENTS_PER_VIDEO:
                found[moment.video].append(moment.t)
        return found

    def ask(self, question: str, *, options: Sequence[str] | None = None, strategy: str = "auto",
            budget: int | None = None, candidates: int = 2) -> LibraryAnswer:
        """Find the videos the question is about, search inside the best ones, answer from the surest."""
        question, options = validate_question(question, options)
        ranked = self.find_videos(question)
        if not ranked:
            raise ConfigError("the library holds no searchable video; add videos first (agentime library add)")
        best: LibraryAnswer | None = None
        for candidate in ranked[:max(1, int(candidates))]:
            answer = self._session(candidate["video"]).ask(question, options=options, strategy=strategy,
                                                           budget=budget)
            if best is None or answer.confidence > best.confidence:
                best = LibraryAnswer(**vars(answer), video=candidate["video"], candidates=ranked[:5],
                                     notes=list(self.notes))
            if answer.confidence >= SECOND_LOOK_BELOW:
                break
        return best

    def _session(self, path: str) -> Session:
        if path not in self._sessions:
            self._sessions[path] = Session(path, models=self._models, config=self.config)
        return self._sessions[path]

    def _drop_missing_from_answers(self) -> None:
        if any(not Path(p).is_file() for p in self.videos):
            self._drop_missing()
            self.index = None
            self._refresh_index()


def _frames_at(directory: Path, times: Sequence[float]) -> list:
    """The cached overview frames of a video at exactly `times` (decoding only those frames)."""
    from agentime.errors import CacheError
    from agentime.video.cache import ChunkFrames, OverviewStore

    store, wanted, frames = OverviewStore(directory), set(times), []
    try:
        for path, chunk_times in zip(store.chunk_paths(), store.chunk_times(), strict=True):
            inside = wanted.intersection(float(t) for t in chunk_times)
            if inside:
                chunk = ChunkFrames(path)
                frames += [f for f in (chunk.get(t) for t in sorted(inside)) if f is not None]
    except (CacheError, OSError, ValueError):
        return frames  # a damaged cache: the video keeps its embedder rank; the next add rebuilds it
    return frames


def _content_key(path: Path) -> str:
    from agentime.video.cache import video_key

    return video_key(path)


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Each listed file's size and modification time: what `watch` compares between polls."""
    listing = {}
    for path in _listed(folder)[0]:
        try:
            stat = path.stat()
        except OSError:  # deleted between the listing and the stat
            continue
        listing[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return listing


def _index_ready(video: dict, embedder_name: str) -> bool:
    index = saved_frame_index(Path(video["directory"]), embedder_name)
    return index is not None and len(index) == video["frames"]


def _listed(paths_or_folder) -> tuple[list[Path], Path | None]:
    """The files of a folder (sorted; hidden ones and subtitle files, which are read beside their videos, left
    out) or the given paths; the folder, if one."""
    from agentime.speech.sources import SUBTITLE_SUFFIXES

    if isinstance(paths_or_folder, (str, os.PathLike)):
        root = Path(paths_or_folder).expanduser().resolve()
        if root.is_dir():
            files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() not in SUBTITLE_SUFFIXES
                           and not any(part.startswith(HIDDEN_PREFIXES) for part in p.relative_to(root).parts))
            return files, root
        if not root.exists():
            raise ConfigError(f"{paths_or_folder} does not exist; give a folder of videos or a list of files")
        return [root], None
    paths = [Path(p).expanduser().resolve() for p in paths_or_folder]
    if not paths:
        raise ConfigError("the library was given no videos; give a folder or a list of files")
    return paths, None
