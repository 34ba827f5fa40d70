"""Model specs: one string names a model, this module turns it into a VLM or an Embedder.

Forms:
  `embedded:embedder|draft|target`       the models shipped in `agentime/models/<name>/`
  `hf:/path/to/folder` or `hf:org/name`  any transformers image-text-to-text model (hub ids need network)
  `openai:http://host:8000/v1#model`     any OpenAI-compatible server (`#model` optional when it serves one)
A bare path is read as `hf:`, a bare http(s) URL as `openai:`. The CLI, UI and API accept these strings.
Each form is a `Backend`: a new kind of model is its own module (how to parse its spec, how to load it) plus
one `register_backend` line in the list below.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agentime.config import DEFAULT_MODEL_SPECS
from agentime.vlm.errors import EmbeddedModelMissingError, ModelSpecError

EMBEDDED_NAMES = ("embedder", "draft", "target")
DRAFT_MAX_BATCH = 32  # a small draft is cheap per frame, so fixed per-call costs dominate unless batches are large
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


@dataclass(frozen=True)
class ModelSpec:
    """A parsed spec: `kind` names its backend (embedded, hf, openai); `location` a name, path/id or URL."""

    kind: str
    location: str
    model: str | None = None


@dataclass(frozen=True)
class Backend:
    """One kind of model spec. `parse(spec, rest)` reads the text after `kind:` into a ModelSpec (raising
    ModelSpecError); `vlm(parsed, options)` and `embedder(parsed, options)` load its models (`embedder` None:
    this backend serves no embedders, `refusal` says what to use instead); `in_process` backends print loading
    output that `verbose` shows."""

    kind: str
    parse: Callable[[str, str], ModelSpec]
    vlm: Callable[[ModelSpec, dict], object]
    embedder: Callable[[ModelSpec, dict], object] | None = None
    in_process: bool = True
    refusal: str = ""


BACKENDS: dict[str, Backend] = {}


def register_backend(backend: Backend) -> None:
    """Make `kind:...` specs load through `backend` (the one line a new backend adds, at the end of this module)."""
    BACKENDS[backend.kind] = backend


def parse_spec(spec: str) -> ModelSpec:
    """Parse a model spec string; raises ModelSpecError with the accepted forms."""
    if not isinstance(spec, str) or not spec.strip():
        raise ModelSpecError("empty model spec; use embedded:target, hf:/path/to/model or openai:URL#model")
    spec = spec.strip()
    kind, sep, rest = spec.partition(":")
    if sep and kind in BACKENDS:
        if not rest:
            raise ModelSpecError(f"model spec {spec!r} names no model after '{kind}:'")
        return BACKENDS[kind].parse(spec, rest)
    if spec.startswith(("http://", "https://")):
        return _parse_openai(spec, spec)
    return ModelSpec("hf", spec)


def embedded_model_dir(name: str) -> Path:
    """The folder of an embedded model; raises EmbeddedModelMissingError when it is not installed."""
    folder = MODELS_DIR / name
    if not (folder / "config.json").is_file():
        raise EmbeddedModelMissingError(
            f"the embedded {name} model is not installed (no {folder}/config.json): the embedded models are "
            "trained by the project's training pipelines and shipped with the package. Meanwhile use a real "
            "model: hf:/path/to/a/local/vlm (e.g. a Qwen2.5-VL or SmolVLM folder) or "
            "openai:http://host:8000/v1#model for a server (vLLM, Ollama, `agentime serve`)"
        )
    return folder


def _build_config(config_class, base: dict, options: dict):
    fields = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise ModelSpecError(f"unknown option(s) {', '.join(unknown)} for {config_class.__name__}; "
                             f"accepted: {', '.join(sorted(fields - set(base)))}")
    values = {k: v for k, v in options.items() if v is not None}
    return config_class(**{**base, **values})


def load_vlm(spec: str, **options):
    """A VLM for `spec`; `options` are fields of its backend's config (HFConfig, OpenAIConfig: device,
    max_batch, timeout_s ...)."""
    parsed = parse_spec(spec)
    return BACKENDS[parsed.kind].vlm(parsed, options)


def load_embedder(spec: str, **options):
    """An Embedder for `spec` (embedded or hf: SigLIP/CLIP-style dual encoders)."""
    parsed = parse_spec(spec)
    backend = BACKENDS[parsed.kind]
    if backend.embedder is None:
        raise ModelSpecError(backend.refusal or f"{parsed.kind}: specs load no embedders")
    return backend.embedder(parsed, options)


# ---- the backends -------------------------------------------------------------------------------------------

def _parse_embedded(spec: str, rest: str) -> ModelSpec:
    if rest not in EMBEDDED_NAMES:
        raise ModelSpecError(f"unknown embedded model {rest!r}; choose one of {', '.join(EMBEDDED_NAMES)}")
    return ModelSpec("embedded", rest)


def _parse_openai(spec: str, rest: str) -> ModelSpec:
    url, _, model = rest.partition("#")
    if not url.startswith(("http://", "https://")):
        raise ModelSpecError(f"{spec!r}: an openai spec needs an http(s) URL, e.g. "
                             "openai:http://127.0.0.1:8000/v1#model")
    return ModelSpec("openai", url, model or None)


def _hf_path(parsed: ModelSpec) -> str:
    return str(embedded_model_dir(parsed.location)) if parsed.kind == "embedded" else parsed.location


def _hf_vlm(parsed: ModelSpec, options: dict):
    from agentime.vlm.hf import HFConfig, HFVLM

    base = {"path": _hf_path(parsed)}
    if parsed.kind == "embedded":
        base["name"] = options.pop("name", None) or parsed.location
    return HFVLM(_build_config(HFConfig, base, options))


def _hf_embedder(parsed: ModelSpec, options: dict):
    from agentime.vlm.hf import HFConfig, HFEmbedder

    return HFEmbedder(_build_config(HFConfig, {"path": _hf_path(parsed)}, options))


def _openai_vlm(parsed: ModelSpec, options: dict):
    from agentime.vlm.openai_api import OpenAIConfig, OpenAIVLM

    base = {"base_url": parsed.location}
    if parsed.model:
        base["model"] = parsed.model
    return OpenAIVLM(_build_config(OpenAIConfig, base, options))


register_backend(Backend("embedded", _parse_embedded, _hf_vlm, _hf_embedder))
register_backend(Backend("hf", lambda spec, rest: ModelSpec("hf", rest), _hf_vlm, _hf_embedder))
register_backend(Backend("openai", _parse_openai, _openai_vlm, in_process=False,
                         refusal="embedders run in process: use embedded:embedder or hf:/path/to/siglip"))


def demo_models_note(specs: dict) -> str | None:
    """One line saying which roles use the shipped demo models (`embedded:...`) and what that means (the web UI
    shows the same near its answers); None when no role does."""
    roles = [role for role in DEFAULT_MODEL_SPECS if isinstance(specs.get(role), str)
             and specs[role].strip().startswith("embedded:")]
    if not roles:
        return None
    flags = "/".join(f"--{role}" for role in roles)
    return (f"built-in demo models in use ({', '.join(roles)}): they only understand the generated demo world "
            f"(coloured shapes and numbers), so on other videos their results mean nothing; give {flags} a real "
            "model (README: Models)")


def load_model_roles(specs: dict | None = None, verbose: bool = False) -> dict:
    """The three model roles (`target`, `draft`, `embedder`) loaded from specs, defaults filled in; `verbose`
    shows the in-process models' loading output (a server's client has none to show).

    A role's value may be a spec string, an already loaded model (kept as it is) or None (no model of that role;
    the target is required). Raises ConfigError for an unknown role or a missing target.
    """
    from agentime.errors import ConfigError

    wanted = {**DEFAULT_MODEL_SPECS, **(specs or {})}
    unknown = set(wanted) - set(DEFAULT_MODEL_SPECS)
    if unknown:
        raise ConfigError(f"unknown model roles {sorted(unknown)}; use target, draft and embedder")
    if wanted["target"] is None:
        raise ConfigError("a target model is required (a spec such as embedded:target or hf:/path)")
    loaded = {}
    for role, spec in wanted.items():
        if spec is None or not isinstance(spec, str):
            loaded[role] = spec
            continue
        shown = {"verbose": True} if verbose and BACKENDS[parse_spec(spec).kind].in_process else {}
        if role == "embedder":
            loaded[role] = load_embedder(spec, **shown)
        else:
            loaded[role] = (load_vlm(spec, max_batch=DRAFT_MAX_BATCH, **shown) if role == "draft"
                            else load_vlm(spec, **shown))
    return loaded
