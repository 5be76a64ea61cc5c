"""Byte-level BPE tokenizer, trained with Hugging Face ``tokenizers``: any Unicode text in, exactly back out.

Every text is UTF-8 bytes, each byte a base token, so nothing is out of vocabulary (``[UNK]`` stays
reserved at id 3 for the shared layout, never produced). Pre-tokenization splits like GPT-2's byte-level
BPE (a leading space joins the following word: ``Ġthe``) except that contractions split the way spaCy
splits them (``do`` ``n't``, ``It`` ``'s``), so a subword seldom straddles two of the words that every
word-level constraint counts (:mod:`ctrlgen.text.alignment` states the rule for when one does).
``decode(encode(t)) == t`` for every string ``t``: no normaliser, no stripping, and a text's literal
``[MASK]`` is encoded as characters, not as the special.

The whole tokenizer is the Hugging Face file (:mod:`ctrlgen.text.base`): ``PreTrainedTokenizerFast`` gives
the same ids (it does match literal special-token strings in text, as Hugging Face tokenizers do).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ctrlgen.errors import CheckpointError, DataError
from ctrlgen.text.base import (
    HF_FORMAT,
    TOKENIZER_FILE,
    BaseTokenizer,
    added_specials,
    detect_kind,
    load_hf,
    start_end_processor,
)
from ctrlgen.text.vocab import SPECIALS, Vocabulary

#: GPT-2's pre-tokenization pattern, with spaCy's contractions (``n't`` and ``'s``/``'re``/… split off).
BPE_SPLIT = (r"(?i:n[’']t)(?![\p{L}\p{N}])|[’'](?i:s|t|re|ve|m|ll|d)(?![\p{L}\p{N}])"
             r"| ?\p{L}+(?=(?i:n[’']t)(?![\p{L}\p{N}]))| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+")
DEFAULT_VOCAB_SIZE = 1024


@functools.lru_cache(maxsize=1)
def byte_of_char() -> dict[str, int]:
    """Byte-level alphabet (GPT-2's ``bytes_to_unicode``) inverted: the character standing for each byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[chr(b)] = b
        else:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


def build_bpe() -> Any:
    """An untrained byte-level BPE ``tokenizers.Tokenizer`` with ctrlgen's pre-tokenizer and processors."""
    from tokenizers import Regex, decoders, models, pre_tokenizers, processors
    from tokenizers import Tokenizer as HFTokenizer

    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(BPE_SPLIT), "isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    hf.decoder = decoders.ByteLevel()
    hf.post_processor = processors.Sequence([processors.ByteLevel(trim_offsets=True), start_end_processor()])
    return hf


class BPETokenizer(BaseTokenizer):
    """Byte-level BPE with the shared special-token layout; same interface as the word tokenizer."""

    kind = "bpe"

    def __init__(self, hf: Any, vocab: Vocabulary | None = None) -> None:
        self._hf = hf
        self.vocab = vocab or Vocabulary([hf.id_to_token(i) for i in range(hf.get_vocab_size())])

    @property
    def hf(self) -> Any:
        return self._hf

    # ---------------------------------------------------------------- building
    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = DEFAULT_VOCAB_SIZE,  # type: ignore[override]
              min_frequency: int = 2) -> BPETokenizer:
        """Train on ``texts``: 256 byte tokens + the specials + merges up to ``vocab_size`` tokens."""
        from tokenizers import pre_tokenizers, trainers

        texts = list(texts)
        if not texts:
            raise DataError("cannot build a tokenizer from no text", "pass a non-empty corpus")
        floor = 256 + len(SPECIALS)
        if vocab_size < floor:
            raise DataError(f"vocab_size must be >= {floor} (256 bytes + {len(SPECIALS)} specials), got {vocab_size}",
                            f"use e.g. {DEFAULT_VOCAB_SIZE}")
        hf = build_bpe()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, show_progress=False,
                                      special_tokens=added_specials(),
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        hf.train_from_iterator(texts, trainer)
        return cls(hf)

    # ---------------------------------------------------------------- encoding
    def _encode(self, text: str) -> Any:
        self._hf.encode_special_tokens = True  # a literal "[MASK]" in text is text
        try:
            return self._hf.encode(text, add_special_tokens=False)
        finally:
            self._hf.encode_special_tokens = False

    def tokenize(self, text: str) -> list[str]:
        """Byte-level token strings of ``text`` (``Ġ`` stands for a space)."""
        return list(self._encode(text).tokens)

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span in ``text`` of each subword of ``tokenize(text)`` (a leading space excluded)."""
        return list(self._encode(text).offsets)

    def encode(self, text: str, seq_len: int | None = None) -> list[int]:
        """``[START] ids [END]`` then PAD up to ``seq_len``; ``DataError`` when the subwords do not fit."""
        return self.framed(self._encode(text).ids, seq_len, "subwords", text)

    def detokenize(self, tokens: Sequence[str]) -> str:
        """Token strings → text: runs of byte tokens are UTF-8 decoded (an invalid byte sequence becomes
        U+FFFD); a special token in the run stays as its literal (``[MASK]``)."""
        out, run = [], []
        for t in tokens:
            if t in SPECIALS:
                out.append(self._hf.decoder.decode(run) if run else "")
                out.append(t)
                run = []
            else:
                run.append(t)
        out.append(self._hf.decoder.decode(run) if run else "")
        return "".join(out)

    def text_intact(self, ids: Sequence[int] | torch.Tensor) -> bool:
        """Whether the content tokens of ``ids`` are whole UTF-8 characters: each run of byte tokens between
        specials (as :meth:`detokenize` decodes them) is valid UTF-8, so the text has no U+FFFD the model made."""
        table, run = byte_of_char(), bytearray()
        for _, i in [*self.content(ids), (-1, self.vocab.pad_id)]:  # a PAD sentinel ends the last run
            word = self.vocab.word(i)
            if word in SPECIALS:
                try:
                    run.decode("utf-8")
                except UnicodeDecodeError:
                    return False
                run = bytearray()
            else:
                run.extend(table[c] for c in word)
        return True

    def decode(self, ids: Sequence[int] | torch.Tensor, unk_words: Mapping[int, str] | None = None) -> str:
        """Text of the tokens between START and the first END. ``unk_words`` (position → word) replaces an
        ``[UNK]`` there, which the model may write although encoding never does; the word gets a space
        before it unless it starts the text."""
        tokens: list[str] = []
        for pos, i in self.content(ids):
            if unk_words and i == self.vocab.unk_id and pos in unk_words:
                spelled = "".join(_char_of_byte()[b] for b in unk_words[pos].encode())
                tokens.append(("Ġ" if tokens else "") + spelled)
            else:
                tokens.append(self.vocab.word(i))
        return self.detokenize(tokens)

    # ---------------------------------------------------------------- (de)serialisation
    def ctrlgen_config(self) -> dict[str, Any]:
        return {"kind": self.kind, "format": HF_FORMAT}

    @classmethod
    def load(cls, directory: str | os.PathLike) -> BPETokenizer:
        kind = detect_kind(directory)
        if kind != cls.kind:
            raise CheckpointError(f"{Path(directory) / TOKENIZER_FILE} holds a {kind} tokenizer, not a BPE one",
                                  "load it with ctrlgen.text.loader.load_tokenizer")
        hf, vocab, _ = load_hf(directory)
        return cls(hf, vocab)


@functools.lru_cache(maxsize=1)
def _char_of_byte() -> dict[int, str]:
    return {b: c for c, b in byte_of_char().items()}
