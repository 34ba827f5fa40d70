"""The frame index answers the search's queries through faiss; the library index picks its type by size.

Small synthetic embeddings stand in for a model: what is checked is the faiss plumbing (exact profiles,
top-k, index choice, recall against exact search, file checks), not what an embedder sees.
"""

import json

import numpy as np
import pytest

from agentime.index.frame_index import FrameIndex
from agentime.index.library_index import IVF_FROM, FORMAT_VERSION, LibraryIndex, choose_index


def unit_rows(rng, n, dim=32):
    rows = rng.normal(size=(n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_similarities_are_the_exact_best_inner_product_over_the_query_rows():
    rng = np.random.default_rng(0)
    frames, queries = unit_rows(rng, 300), unit_rows(rng, 3)
    index = FrameIndex(frames, np.arange(300) * 0.5)
    expected = (frames @ queries.T).max(axis=1)
    np.testing.assert_allclose(index.similarities(queries), expected, rtol=0, atol=1e-5)
    top = index.top_moments(queries, k=5)
    assert [m.t for m in top] == [float(t) * 0.5 for t in np.argsort(-expected)[:5]]
    assert len({m.t for m in index.top_moments(queries, k=50)}) == 50  # a frame once, however many queries hit it


def test_the_runtime_reads_the_prior_from_the_index_not_from_its_vectors(monkeypatch):
    from agentime.search.runtime import SearchRuntime

    rng = np.random.default_rng(1)
    frames = unit_rows(rng, 40)
    index = FrameIndex(frames, np.arange(40, dtype=float))
    monkeypatch.setattr(FrameIndex, "embeddings", lambda self: pytest.fail("the runtime rebuilt every vector"))

    class Embedder:
        name = "rows"

        def embed_texts(self, texts):
            return frames[[3, 7]][: len(texts)]

    rt = SearchRuntime.__new__(SearchRuntime)
    rt.index, rt.embedder, rt.queries, rt._query_scores, rt._query_prior = index, Embedder(), ["a", "b"], None, None
    rt.embedder_calls = 0
    scores = rt.query_scores()
    assert int(np.argmax(scores)) in (3, 7) and scores.shape == (40,)
    np.testing.assert_allclose(scores, (frames @ frames[[3, 7]].T).max(axis=1), atol=1e-5)


def test_index_type_follows_the_library_size():
    assert choose_index(IVF_FROM - 1).kind == "flat"
    big = choose_index(1_000_000)
    assert big.kind == "ivf_fp16" and big.lists >= 512 and 0 < big.probes < big.lists
    assert choose_index(1_000_000, "pq").kind == "ivf_pq" and choose_index(1_000_000, "sq8").kind == "ivf_sq8"
    with pytest.raises(ValueError, match="unknown quantizer"):
        choose_index(10, "zip")


@pytest.fixture(scope="module")
def clustered():
    """Scene-like rows: a few hundred concepts with per-frame noise, as frames of many videos would be."""
    rng = np.random.default_rng(2)
    dim = 32
    concepts = unit_rows(rng, 400, dim)
    rows = concepts[rng.integers(0, 400, IVF_FROM)] + rng.normal(0, 0.4 / np.sqrt(dim), (IVF_FROM, dim))
    rows = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    queries = concepts[rng.integers(0, 400, 50)] + rng.normal(0, 0.3 / np.sqrt(dim), (50, dim))
    return rows, (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)


def test_a_large_library_gets_a_trained_ivf_index_close_to_exact_and_smaller(clustered, tmp_path):
    rows, queries = clustered
    half = len(rows) // 2
    parts = [("video-a", rows[:half], np.arange(half, dtype=float)),
             ("video-b", rows[half:], np.arange(len(rows) - half, dtype=float))]
    library = LibraryIndex.build(parts, "emb")
    assert library.choice.kind == "ivf_fp16"
    exact = LibraryIndex(_flat(rows), choose_index(0), ["all"], [len(rows)], np.arange(len(rows), dtype=float),
                         "emb", len(rows))
    recall = []
    for q in queries:
        found = {(h.video, h.t) for h in library.search(q, 10)}
        truth = {("video-a" if h.t < half else "video-b", h.t if h.t < half else h.t - half)
                 for h in exact.search(q, 10)}
        recall.append(len(found & truth) / 10)
    assert np.mean(recall) >= 0.9
    assert library.memory_bytes() < exact.memory_bytes()
    assert not library.needs_rebuild(len(rows)) and library.needs_rebuild(5 * len(rows))
    assert library.needs_rebuild(IVF_FROM // 2)  # shrunk below the bound: an exact index again


def _flat(rows):
    import faiss

    index = faiss.IndexFlatIP(rows.shape[1])
    index.add(rows)
    return index


def test_index_files_are_checked_on_load(tmp_path):
    rng = np.random.default_rng(3)
    parts = [("v1", unit_rows(rng, 20), np.arange(20.0)), ("v2", unit_rows(rng, 30), np.arange(30.0))]
    built = LibraryIndex.build(parts, "emb")
    built.save(tmp_path)
    loaded = LibraryIndex.load(tmp_path, "emb")
    assert loaded is not None and loaded.videos == ["v1", "v2"] and len(loaded) == 50
    q = parts[1][1][4]
    assert loaded.search(q, 1)[0].video == "v2" and loaded.search(q, 1)[0].t == 4.0
    assert LibraryIndex.load(tmp_path, "another-embedder") is None

    data = bytearray((tmp_path / "library.faiss").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "library.faiss").write_bytes(bytes(data))
    assert LibraryIndex.load(tmp_path, "emb") is None  # damaged: rebuilt by the caller, never trusted

    built.save(tmp_path)
    manifest = json.loads((tmp_path / "library.json").read_text())
    (tmp_path / "library.json").write_text(json.dumps({**manifest, "format": FORMAT_VERSION + 1}))
    assert LibraryIndex.load(tmp_path, "emb") is None
    assert LibraryIndex.load(tmp_path / "nothing-here", "emb") is None
