"""Benchmarks and evaluations: ingest, search, VLM and attention speed, model families, embedded-model and TicToc quality, batch evaluation."""
