"""Hydra launcher plugins of probing (Hydra loads launchers only from the hydra_plugins namespace)."""
