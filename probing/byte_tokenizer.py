"""The tiny test model's tokenizer: byte-level, built in memory, no download.

Its own module so that reading what a run of the tiny model wrote (the report's neuron pages)
does not import the model code; transformers is imported only when it is built.
"""

from __future__ import annotations


def byte_level_tokenizer():
    """A 257-token byte-level BPE tokenizer built in memory: any text, no download."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {c: i for i, c in enumerate(sorted(ByteLevel.alphabet()))}
    vocab["<|endoftext|>"] = len(vocab)
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    end = "<|endoftext|>"
    return PreTrainedTokenizerFast(
        tokenizer_object=tk, eos_token=end, bos_token=end, pad_token=end, name_or_path="byte-level"
    )
