"""The built-in collections build byte-identical datasets on every machine.

The hashes below were built on two machine images of their own: Python 3.11 + numpy 2.4.6 and
Python 3.13 + numpy 2.5.5 (a separate venv, its own download of the pinned sources, SmolLM2's
tokenizer saved as tokenizer.json), with `python -m probing.features hashes`; both printed exactly
these. A fresh machine that builds another hash reads other bytes (a source, the tokenizer, the
spaCy or WordNet pin) and fails here instead of silently probing different data.
"""

from __future__ import annotations

import pytest

from probing.features import build_feature_dataset

# content hash of each built-in collection at its defaults, SmolLM2-135M's tokenizer
DEFAULT_HASHES = {
    "text_source": "14aa852315ca8b32",
    "part_of_speech": "0e4f57874179309e",
    "dependency": "0ee828a71a18e4a0",
    "morphology": "90d395b95d76e0b3",
    "compound_words": "21d7d77ac3b9559c",
    "natural_language": "d64923978be9b896",
    "people": "b2af887f289336c2",
    "programming_language": "c2f60a55df31363b",  # recipe 3: built on the first image only
    "surface_text": "15fd1eb84208d297",
    "token_position": "f59b6ddec09f9ed9",
}
# small builds for the fast suite: (collection, parameters) -> content hash
SMALL = {
    "programming_language": ({"n_per_class": 20, "seq_len": 64}, "df6b9ea0aa997fdd"),
    "text_source": ({"n_per_class": 20, "seq_len": 64}, "3b05d93ed0333604"),
    "natural_language": ({"n_per_class": 20, "languages": ["en", "de", "ja"]}, "a26cb989c91d0662"),
    "token_position": ({"n_sequences": 40}, "f9c94c6d4524d52c"),
    "compound_words": ({"n_sequences": 400}, "70d7326af64beb09"),
}


def mismatch(name: str, got: str, want: str) -> str:
    return (
        f"{name} built {got}, the reference machines built {want}: this machine reads other "
        "bytes (a pinned source, the tokenizer, or a pinned package's version)"
    )


@pytest.mark.parametrize("name", sorted(SMALL))
def test_small_builds_have_the_reference_hash(name, smollm2_tokenizer):
    params, want = SMALL[name]
    got = build_feature_dataset(name, smollm2_tokenizer, **params).content_hash()
    assert got == want, mismatch(name, got, want)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(DEFAULT_HASHES))
def test_default_builds_have_the_reference_hash(name, smollm2_tokenizer, tmp_path):
    got = build_feature_dataset(name, smollm2_tokenizer, tmp_path).content_hash()
    assert got == DEFAULT_HASHES[name], mismatch(name, got, DEFAULT_HASHES[name])
