"""The one error of feature data, in a module of its own: every layer of probing.features raises it,
so it imports only the leaf probing.errors (it lived in the registry, whose import of the dataset
made cycles)."""

from probing.errors import UserError


class FeatureDataError(UserError, ValueError):
    """A feature dataset cannot be built as asked; the message says what to change or install."""
