"""probing.errors is a leaf: the user errors are known by their base class, not by importing
the layers that define them, so validating a config never imports torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from probing.errors import USER_ERRORS, ConfigError, UserError, user_errors, user_message

ROOT = Path(__file__).resolve().parents[1]


def test_importing_the_errors_imports_no_torch_and_no_other_layer():
    code = (
        "import sys, probing.errors; "
        "print('torch' in sys.modules, sorted(m for m in sys.modules if m.startswith('probing')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False ['probing', 'probing.errors']"


@pytest.mark.parametrize(
    "module, name, base",
    [
        ("probing.activations.extract", "ActivationRangeError", OverflowError),
        ("probing.activations.lock", "StoreLockTimeout", RuntimeError),
        ("probing.activations.lock", "StoreLockUnsupported", RuntimeError),
        ("probing.activations.store", "StoreCorruptError", RuntimeError),
        ("probing.activations.store", "StoreMismatchError", RuntimeError),
        ("probing.models", "ModelLoadError", RuntimeError),
        ("probing.results", "RunDirBusy", RuntimeError),
        ("probing.sae.saved", "SAEError", ValueError),
        ("probing.splits", "SplitError", ValueError),
        ("probing.errors", "ConfigError", ValueError),
        ("probing.features.core.errors", "FeatureDataError", ValueError),
    ],
)
def test_every_user_error_is_one_line_and_keeps_its_base(module, name, base):
    import importlib

    cls = getattr(importlib.import_module(module), name)
    err = cls("do this instead")
    assert isinstance(err, base) and isinstance(err, user_errors())
    assert user_message(err) == "do this instead"
    try:
        raise err
    except user_errors() as caught:
        assert caught is err


def test_a_bug_is_not_a_user_error():
    assert issubclass(ConfigError, UserError) and UserError in USER_ERRORS
    assert user_message(KeyError("a bug")) is None
    assert user_message(ValueError("a bug")) is None
