"""Is the Hugging Face hub there? One answer for models and feature data alike.

An unreachable hub costs minutes of retries in `transformers` and `datasets`; one TCP connect
(3 s) decides instead, once per process. HF_HUB_OFFLINE in any of the spellings huggingface_hub
accepts (1, true, yes, on) means offline without trying. A leaf module: it imports no other part
of probing, and only huggingface_hub's constants.
"""

from __future__ import annotations

import functools
import os
import socket
import sys
from urllib.parse import urlparse

TRUE = ("1", "true", "yes", "on")


def hub_offline() -> bool:
    """HF_HUB_OFFLINE set, in the environment or in an already imported `datasets`."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in TRUE:
        return True
    datasets = sys.modules.get("datasets")
    return bool(datasets is not None and getattr(datasets.config, "HF_HUB_OFFLINE", False))


def hub_host() -> str:
    from huggingface_hub import constants

    return urlparse(constants.ENDPOINT).hostname or "huggingface.co"


def hub_reachable(timeout: float = 3.0) -> bool:
    """One TCP connect to the hub (HF_ENDPOINT respected), once a process; False at once when
    offline (checked on every call: a test or a job may set it later)."""
    return not hub_offline() and _connects(timeout)


@functools.cache
def _connects(timeout: float) -> bool:
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        with socket.create_connection((hub_host(), port), timeout=timeout):
            return True
    except OSError:
        return False


hub_reachable.cache_clear = _connects.cache_clear  # type: ignore[attr-defined]
