"""Model specs, embedded-model errors, and the `agentime serve` entry points."""

import argparse

import pytest

from agentime.vlm.errors import EmbeddedModelMissingError, ModelSpecError
from agentime.vlm.hf import HFVLM
from agentime.vlm.openai_api import OpenAIVLM
from agentime.vlm.registry import MODELS_DIR, ModelSpec, embedded_model_dir, load_embedder, load_vlm, parse_spec
from agentime.vlm.server import ServerConfig, add_serve_arguments, parse_attn_option, serve_in_thread, serve_main
from tiny_models import frames, tiny_model, tiny_vlm


def test_parse_spec_forms():
    assert parse_spec("embedded:target") == ModelSpec("embedded", "target")
    assert parse_spec("hf:/models/qwen") == ModelSpec("hf", "/models/qwen")
    assert parse_spec("hf:Qwen/Qwen2.5-VL-3B-Instruct") == ModelSpec("hf", "Qwen/Qwen2.5-VL-3B-Instruct")
    assert parse_spec("openai:http://host:8000/v1#qwen2.5-vl-7b") == ModelSpec(
        "openai", "http://host:8000/v1", "qwen2.5-vl-7b")
    assert parse_spec("openai:https://api.example.com/v1") == ModelSpec("openai", "https://api.example.com/v1")
    assert parse_spec("./local/folder") == ModelSpec("hf", "./local/folder")
    assert parse_spec("http://h:1/v1#m") == ModelSpec("openai", "http://h:1/v1", "m")
    for bad in ("", "embedded:huge", "openai:host:8000", "hf:"):
        with pytest.raises(ModelSpecError):
            parse_spec(bad)


def test_embedded_models_missing_is_explained():
    for name in ("target", "draft", "embedder"):
        try:
            folder = embedded_model_dir(name)
        except EmbeddedModelMissingError as exc:
            assert "not installed" in str(exc) and "hf:" in str(exc) and "openai:" in str(exc)
        else:
            assert (folder / "config.json").is_file()
    if not (MODELS_DIR / "target" / "config.json").is_file():
        with pytest.raises(EmbeddedModelMissingError):
            load_vlm("embedded:target")


def test_load_vlm_from_specs():
    vlm = load_vlm(f"hf:{tiny_model('llava')}", max_batch=3, dtype="float32")
    assert isinstance(vlm, HFVLM) and vlm.max_batch == 3
    embedder = load_embedder(str(tiny_model("siglip")))
    assert embedder.embed_texts(["a"]).shape == (1, embedder.dim)
    with pytest.raises(ModelSpecError, match="unknown option"):
        load_vlm(f"hf:{tiny_model('llava')}", colour="red")
    server = serve_in_thread(tiny_vlm("llava"), ServerConfig(max_top_logprobs=2000))
    try:
        remote = load_vlm(f"openai:{server.base_url}#llava", image_format="png", top_logprobs=2000)
        assert isinstance(remote, OpenAIVLM) and remote.model == "llava"
        discovered = load_vlm(server.base_url, image_format="png", top_logprobs=2000)
        assert discovered.model == "llava"
        assert remote.yes_probability(frames(2), "a dog") == pytest.approx(
            tiny_vlm("llava").yes_probability(frames(2), "a dog"), abs=1e-5)
    finally:
        server.stop()


def test_serve_arguments_reach_the_server(monkeypatch):
    import uvicorn

    seen = {}

    def fake_run(app, host, port, log_level):
        seen.update(app=app, host=host, port=port)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    args = parser.parse_args([f"hf:{tiny_model('llava')}", "--port", "8123", "--name", "tiny",
                              "--attn-implementation", "vision=eager,text=sdpa", "--max-batch", "4"])
    assert args.model.startswith("hf:") and args.port == 8123
    assert serve_main(args) == 0
    assert seen["port"] == 8123 and seen["host"] == "127.0.0.1"
    assert seen["app"].state.model_name == "tiny"
    assert seen["app"].state.worker.vlm.model.config.vision_config._attn_implementation == "eager"
    seen["app"].state.worker.stop()
    assert parse_attn_option("sdpa") == "sdpa"
    assert parse_attn_option("vision=sdpa,text=agentime_sparse") == {"vision": "sdpa", "text": "agentime_sparse"}
    assert parser.parse_args([]).model == "embedded:target"


def test_a_new_backend_is_one_registration(monkeypatch):
    from agentime.vlm import registry

    monkeypatch.setattr(registry, "BACKENDS", dict(registry.BACKENDS))
    loaded = []

    def parse(spec, rest):
        return registry.ModelSpec("echo", rest)

    def vlm(parsed, options):
        loaded.append((parsed.location, options))
        return f"echo model {parsed.location}"

    registry.register_backend(registry.Backend("echo", parse, vlm, refusal="echo serves no embedders"))
    roles = registry.load_model_roles({"target": "echo:big", "draft": "echo:small", "embedder": None})
    assert roles == {"target": "echo model big", "draft": "echo model small", "embedder": None}
    assert loaded == [("big", {}), ("small", {"max_batch": registry.DRAFT_MAX_BATCH})]
    with pytest.raises(ModelSpecError, match="echo serves no embedders"):
        registry.load_embedder("echo:x")
    assert registry.parse_spec("/models/qwen").kind == "hf"  # bare forms keep their meaning
