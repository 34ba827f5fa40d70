"""Vision-language models behind one protocol.

`base` (the `VLM` and `Embedder` protocols, shared prompt conventions), `hf` (transformers, in process),
`openai_api` (any OpenAI-compatible server), `server` (`agentime serve`), `registry` (model spec strings).
Tiny random models for tests and benchmarks are built by `pipelines/tiny/`, outside the library.
Importing this package loads nothing heavy.
"""
