"""Model choice in the UI: the server's default models, a local model folder, or an OpenAI-compatible server.

Turns the form's fields into model specs and loads them once per process (a small cache shared by all
users, guarded by a lock); loading errors surface as the registry's readable errors.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from agentime.errors import ConfigError
from ui.videos import resolve_path

CHOICES = ("server default", "local model folder", "OpenAI-compatible server")

_cache: OrderedDict = OrderedDict()
_lock = threading.Lock()
MAX_LOADED = 2


def specs_for(choice: str, folder: str, base_url: str, model_name: str, settings) -> dict:
    """Role -> spec for the form's choice; the draft and embedder stay the server's defaults."""
    specs = dict(settings.default_models)
    if choice == CHOICES[0]:
        return specs
    if choice == CHOICES[1]:
        specs["target"] = "hf:" + str(resolve_path(folder, settings.allowed_dirs, kind="model folder"))
        return specs
    if choice == CHOICES[2]:
        url = (base_url or "").strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ConfigError("give the server's base URL, e.g. http://127.0.0.1:8000/v1")
        specs["target"] = f"openai:{url}#{model_name.strip()}" if (model_name or "").strip() else f"openai:{url}"
        return specs
    raise ConfigError(f"unknown model choice {choice!r}")


def load_models(specs: dict) -> dict:
    """Loaded models for `specs`, reused across requests and users."""
    from agentime.api import _resolve

    key = tuple(sorted((k, v or "") for k, v in specs.items()))
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        models = _resolve(specs)
        _cache[key] = models
        while len(_cache) > MAX_LOADED:
            _cache.popitem(last=False)
        return models
