"""The errors a user can cause and fix (a bad override, a missing model, a stale store).

The entry point turns these into one line that says what to do; anything else is a bug and
keeps its traceback.
"""

from probing.activations.store import StoreMismatchError
from probing.features.registry import FeatureDataError
from probing.models import ModelLoadError
from probing.splits import SplitError


class ConfigError(ValueError):
    """An override names something that does not exist (a layer, a feature of a collection)."""


USER_ERRORS: tuple[type[Exception], ...] = (
    ConfigError,
    FeatureDataError,
    ModelLoadError,
    SplitError,
    StoreMismatchError,
)
