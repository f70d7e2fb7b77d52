"""One hub check for models and feature data: offline in every spelling, one connect a process."""

from __future__ import annotations

import contextlib

import pytest

from probing import hub


@pytest.fixture
def reachable_hub(monkeypatch):
    """A hub that answers: socket.create_connection succeeds, and counts its calls."""
    calls = []

    def connect(address, timeout=None):
        calls.append(address)
        return contextlib.nullcontext()

    monkeypatch.setattr(hub.socket, "create_connection", connect)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    hub.hub_reachable.cache_clear()
    yield calls
    hub.hub_reachable.cache_clear()


@pytest.mark.parametrize("offline", ["1", "true", "YES", " on "])
def test_offline_in_any_spelling_never_connects(reachable_hub, monkeypatch, offline):
    monkeypatch.setenv("HF_HUB_OFFLINE", offline)
    assert not hub.hub_reachable() and reachable_hub == []


def test_a_reachable_hub_is_asked_once_and_offline_still_wins_later(reachable_hub, monkeypatch):
    assert hub.hub_reachable() and hub.hub_reachable()
    assert len(reachable_hub) == 1
    monkeypatch.setenv("HF_HUB_OFFLINE", "true")
    assert not hub.hub_reachable()


def test_models_and_feature_data_share_the_check():
    from probing import models
    from probing.features.sources import hub as feature_hub

    assert models.hub_reachable is hub.hub_reachable is feature_hub.hub_reachable
