"""The one error of feature data, in a module of its own: every layer of probing.features raises it,
so it imports nothing (it lived in the registry, whose import of the dataset made cycles)."""


class FeatureDataError(ValueError):
    """A feature dataset cannot be built as asked; the message says what to change or install."""
