"""Model choice in the UI: the server's own models, a model folder on the server, or (only when the operator
allows it) an OpenAI-compatible server a visitor types.

Turns the form's fields into a `ModelChoice` and loads the models it names. Loaded models are shared by all
visitors (a small cache); each choice loads under its own lock, so a slow or hanging server typed by one
visitor never holds up another. A typed server URL is checked against the operator's allow-list before and
during every request, gets a short connect timeout, and receives only the visitor's own API key, never the
server's environment key. Errors about typed URLs are deliberately vague: they must not reveal which hosts
or ports answer.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from agentime.errors import AgentimeError, ConfigError
from .videos import resolve_path

log = logging.getLogger("agentime.ui")

SERVER_MODELS, MODEL_FOLDER, MODEL_URL = "server", "folder", "url"
MAX_LOADED = 2
CONNECT_TIMEOUT_S = 3.0  # a typed server that does not accept a connection by then is given up
REQUEST_TIMEOUT_S = 30.0
UNREACHABLE = ("could not use a model server at that address: it is not allowed on this server, not reachable, "
               "or not an OpenAI-compatible server. Check the URL, or ask the operator which servers are allowed")


def choice_labels(settings) -> list[tuple[str, str]]:
    """(label, value) pairs for the model radio: only the choices this server allows."""
    labels = [(f"This server's models ({describe_spec(settings.target)})", SERVER_MODELS)]
    if settings.allowed_dirs:
        labels.append(("A model folder on this server", MODEL_FOLDER))
    if settings.model_urls_allowed:
        labels.append(("An OpenAI-compatible server (vLLM, Ollama, llama.cpp, ...)", MODEL_URL))
    return labels


def describe_spec(spec: str | None) -> str:
    if not spec:
        return "none"
    if spec.startswith("embedded:"):
        return "the built-in demo models"
    kind, _, rest = spec.partition(":")
    return rest.rsplit("/", 1)[-1] if kind == "hf" else (rest.partition("#")[2] or rest) if kind == "openai" else spec


def uses_demo_models(specs: dict) -> bool:
    """True when the answer comes from the built-in demo target (it only knows the generated demo world)."""
    target = specs.get("target")
    return isinstance(target, str) and target.startswith("embedded:")


@dataclass(frozen=True)
class ModelChoice:
    """What a visitor chose: role -> spec, plus the visitor's own API key for a typed server URL."""

    specs: dict
    api_key: str = field(default="", repr=False)
    typed_url: bool = False

    @property
    def key(self) -> tuple:
        # The key itself is never kept in the key tuple (it would sit in the cache); its digest is enough.
        digest = hashlib.sha256(self.api_key.encode()).hexdigest()[:16] if self.api_key else ""
        return (tuple(sorted((k, v or "") for k, v in self.specs.items())), digest)


def choose_models(choice: str, folder: str, base_url: str, model_name: str, api_key: str, settings) -> ModelChoice:
    """The visitor's `ModelChoice`; refuses choices this server does not offer."""
    specs = dict(settings.default_models)
    if choice in (None, "", SERVER_MODELS):
        return ModelChoice(specs)
    if choice == MODEL_FOLDER:
        if not settings.allowed_dirs:
            raise ConfigError("this server offers no model folders; use its own models")
        specs["target"] = "hf:" + str(resolve_path(folder, settings.allowed_dirs, kind="model folder"))
        return ModelChoice(specs)
    if choice == MODEL_URL:
        if not settings.model_urls_allowed:
            raise ConfigError("this server does not let visitors choose a model server; use its own models "
                              "(the operator can allow some with --allow-model-urls)")
        url = (base_url or "").strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ConfigError("give the server's base URL, e.g. https://models.example.com/v1")
        name = (model_name or "").strip()
        specs["target"] = f"openai:{url}#{name}" if name else f"openai:{url}"
        return ModelChoice(specs, api_key=(api_key or "").strip(), typed_url=True)
    raise ConfigError(f"unknown model choice {choice!r}")


_cache: OrderedDict = OrderedDict()
_cache_lock = threading.Lock()  # held only to look up or store entries, never while loading
_load_locks: dict[tuple, threading.Lock] = {}


def _load_lock(key: tuple) -> threading.Lock:
    with _cache_lock:
        return _load_locks.setdefault(key, threading.Lock())


def load_models(choice: ModelChoice, settings) -> dict:
    """Loaded models for `choice`, reused across questions and visitors."""
    key = choice.key
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    with _load_lock(key):  # two visitors asking for the same new model load it once
        with _cache_lock:
            if key in _cache:
                return _cache[key]
        models = _load(choice, settings)
        with _cache_lock:
            _cache[key] = models
            while len(_cache) > MAX_LOADED:
                _cache.popitem(last=False)
        return models


def _load(choice: ModelChoice, settings) -> dict:
    from agentime.vlm.registry import load_model_roles

    if not choice.typed_url:
        return load_model_roles(choice.specs)
    from agentime.vlm.registry import load_vlm

    url = choice.specs["target"][len("openai:"):].partition("#")[0]
    policy = settings.model_url_policy()
    try:
        policy.check_url(url)
        target = load_vlm(choice.specs["target"], api_key=choice.api_key or None, api_key_env="",
                          timeout_s=REQUEST_TIMEOUT_S, connect_timeout_s=CONNECT_TIMEOUT_S, max_retries=0,
                          url_check=policy.check_url)
    except AgentimeError as exc:
        log.info("visitor model server %s refused or failed: %s", url, exc)
        raise ConfigError(UNREACHABLE) from None
    return load_model_roles({**choice.specs, "target": target})
