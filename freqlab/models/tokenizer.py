"""Tokenizers built in code, so that tiny models need no files from the hub."""

from __future__ import annotations

from transformers import CLIPTokenizer

BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"


def _bytes_to_unicode() -> list[str]:
    """The GPT-2/CLIP table mapping each byte to a printable unicode character (256 entries)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return [chr(c) for c in codes]


def byte_level_clip_tokenizer(model_max_length: int = 77) -> CLIPTokenizer:
    """A CLIP BPE tokenizer over raw bytes with no merges: 514 ids, any text encodes offline.

    Ids 0-255 are bytes inside a word, 256-511 the same bytes ending a word (``</w>``),
    512 is ``<|startoftext|>`` and 513 ``<|endoftext|>`` (also used for padding).
    """
    return CLIPTokenizer(vocab=byte_level_vocab(), merges=[], model_max_length=model_max_length)


def byte_level_vocab() -> dict[str, int]:
    """The 514 ids of :func:`byte_level_clip_tokenizer`: bytes, bytes ending a word, BOS, EOS.
    Tokenizers with extra merges (the testbed's caption words) extend a copy of it."""
    chars = _bytes_to_unicode()
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": 256 + i for i, c in enumerate(chars)})
    vocab.update({BOS_TOKEN: 512, EOS_TOKEN: 513})
    return vocab
