"""Tokenizers built in memory (no download): a byte-level BPE with a few hundred merges learnt
from licence text on this machine, and a bare byte-level one whose tokens are single bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from tokenizers.pre_tokenizers import ByteLevel
from transformers import PreTrainedTokenizerFast

EOS = "<|endoftext|>"


def wrap(tk: Tokenizer) -> PreTrainedTokenizerFast:
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tk, eos_token=EOS, pad_token=EOS)


@pytest.fixture(scope="session")
def byte_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {c: i for i, c in enumerate(sorted(ByteLevel.alphabet()))}
    vocab[EOS] = len(vocab)
    return wrap(Tokenizer(models.BPE(vocab=vocab, merges=[])))


@pytest.fixture(scope="session")
def bpe_tokenizer() -> PreTrainedTokenizerFast:
    texts = [p.read_text() for p in sorted(Path("/usr/share/common-licenses").glob("*"))]
    if not texts:
        pytest.skip("no licence texts on this machine to train the test tokenizer")
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=800, initial_alphabet=ByteLevel.alphabet(), special_tokens=[EOS]
    )
    tk.train_from_iterator(texts, trainer)
    return wrap(tk)


@pytest.fixture()
def fake_prose(tmp_path: Path) -> Path:
    """A root holding two copies of real licence text as `copyright` files plus a binary decoy."""
    licences = sorted(Path("/usr/share/common-licenses").glob("*"))[:4]
    if not licences:
        pytest.skip("no licence texts on this machine")
    for i, src in enumerate(licences):
        (tmp_path / f"pkg{i}").mkdir()
        (tmp_path / f"pkg{i}" / "copyright").write_text(src.read_text())
    (tmp_path / "pkg-bin").mkdir()
    (tmp_path / "pkg-bin" / "copyright").write_bytes(b"\0\1\2" * 1000)
    return tmp_path
