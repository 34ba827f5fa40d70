"""Tiny, randomly initialised VLMs built from config, for tests and benchmarks (not shipped in the library)."""
