"""Sparse-autoencoder latents as a probing site, beside the neurons of the same layer.

`hook=sae sae.path=DIR` (a folder in SAELens's saved format) or `sae.release=OWNER/REPO
sae.id=FOLDER` (that folder of a Hugging Face repo, from the local HF cache or the hub) probes the
SAE's latents with the same extraction, splits, nulls and report as neurons; `python -m
probing.sae train` trains a small top-k SAE offline and saves it in that format.
"""

from probing.sae.saved import SAEError, SparseAutoencoder, load_sae, read_config, site_of
from probing.sae.source import check_against_model, resolve_sae_folder

__all__ = [
    "SAEError",
    "SparseAutoencoder",
    "check_against_model",
    "load_sae",
    "read_config",
    "resolve_sae_folder",
    "site_of",
]
