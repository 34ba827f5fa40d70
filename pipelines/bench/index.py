"""Benchmark the library index at scale on synthetic embeddings, without any model.

    python -m pipelines.bench_index --vectors 100000,1000000 [--dim 128] [--queries 200] [--quantizer fp16|sq8|pq]
        [--seed 0] [--json]

The embeddings imitate a library of videos: each "video" is a run of scenes, each scene a shared concept
vector (a few thousand concepts across the library) plus per-frame noise, L2-normalised; queries are concepts
plus noise, as text embeddings near what they describe would be. For each size: the index type the library
chooses (`agentime.index.library_index.choose_index`), build_seconds, query_ms_p50 / query_ms_p99 (one query at
a time, on one thread), recall_at_10 against an exact inner-product search, index_mb, and the flat index's size and query
times for comparison. `--dim` defaults to the shipped embedder's width (128).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from agentime.index.frame_index import one_search_thread
from agentime.index.library_index import IndexChoice, LibraryIndex, build_faiss_index

FRAMES_PER_VIDEO = 600
FRAMES_PER_SCENE = 20


def synthetic_embeddings(rows: int, dim: int, rng: np.random.Generator, concepts: np.ndarray) -> np.ndarray:
    """Scene-structured unit rows: a concept per scene, a small per-video drift, per-frame noise."""
    out = np.empty((rows, dim), np.float32)
    for start in range(0, rows, FRAMES_PER_VIDEO):
        n = min(FRAMES_PER_VIDEO, rows - start)
        scenes = concepts[rng.integers(0, len(concepts), size=-(-n // FRAMES_PER_SCENE))]
        drift = rng.normal(0, 0.3 / np.sqrt(dim), dim).astype(np.float32)
        noise = rng.normal(0, 0.4 / np.sqrt(dim), (n, dim)).astype(np.float32)
        out[start:start + n] = np.repeat(scenes, FRAMES_PER_SCENE, axis=0)[:n] + drift + noise
    return _unit(out)


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _timed_queries(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, list[float]]:
    ids, ms = [], []
    for q in queries:
        with one_search_thread():
            began = time.perf_counter()
            _, found = index.search(q.reshape(1, -1), k)
        ms.append((time.perf_counter() - began) * 1000)
        ids.append(found[0])
    return np.array(ids), ms


def bench_size(rows: int, dim: int, queries: int, quantizer: str, seed: int) -> dict:
    import faiss

    rng = np.random.default_rng(seed)
    concepts = _unit(rng.normal(0, 1, (max(64, rows // 200), dim)).astype(np.float32))
    vectors = synthetic_embeddings(rows, dim, rng, concepts)
    asked = _unit(concepts[rng.integers(0, len(concepts), queries)] + rng.normal(0, 0.3 / np.sqrt(dim), (queries, dim)))
    began = time.perf_counter()
    library = LibraryIndex.build([("synthetic", vectors, np.arange(rows, dtype=np.float64))], "synthetic",
                                 quantizer=quantizer, seed=seed)
    build_seconds = time.perf_counter() - began
    flat = build_faiss_index(vectors, IndexChoice("flat"))
    exact, flat_ms = _timed_queries(flat, asked, 10)
    found, ms = _timed_queries(library.index, asked, 10)
    recall = float(np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact, strict=True)]))
    flat_mb = faiss.serialize_index(flat).size / 2**20
    return {"vectors": rows, "dim": dim, "index": library.choice.kind, "lists": library.choice.lists,
            "probes": library.choice.probes, "build_seconds": round(build_seconds, 2),
            "query_ms_p50": round(float(np.percentile(ms, 50)), 3), "query_ms_p99": round(float(np.percentile(ms, 99)), 3),
            "recall_at_10": round(recall, 4), "index_mb": round(library.memory_bytes() / 2**20, 1),
            "flat_mb": round(flat_mb, 1), "flat_query_ms_p50": round(float(np.percentile(flat_ms, 50)), 3),
            "flat_query_ms_p99": round(float(np.percentile(flat_ms, 99)), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", default="100000,1000000", help="library sizes, comma-separated")
    parser.add_argument("--dim", type=int, default=128, help="embedding width (the shipped embedder's: 128)")
    parser.add_argument("--queries", type=int, default=200, help="queries timed per size")
    parser.add_argument("--quantizer", default="fp16", choices=["fp16", "sq8", "pq"], help="codes of an IVF index")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print only the JSON summary")
    args = parser.parse_args(argv)
    try:
        sizes = [int(v) for v in args.vectors.split(",") if v.strip()]
    except ValueError:
        parser.error(f"--vectors takes whole numbers separated by commas, got {args.vectors!r}")
    if not sizes or min(sizes) < 100 or args.dim < 8 or args.queries < 1:
        parser.error("need sizes >= 100, --dim >= 8 and --queries >= 1")
    results = []
    for rows in sizes:
        results.append(bench_size(rows, args.dim, args.queries, args.quantizer, args.seed))
        if not args.json:
            print(results[-1], file=sys.stderr)
    print(json.dumps({"quantizer": args.quantizer, "seed": args.seed, "sizes": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
