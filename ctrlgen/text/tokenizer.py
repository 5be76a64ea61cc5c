"""Word-level tokenizer: spaCy's rule-based English tokenizer (no model) plus a vocabulary.

Sequences follow Diffusion-LM's "pad" mode: ``[START] w1 … wn [END] [PAD] …`` at a fixed length.
Detokenisation is learned from the training text: a word that, in most of its occurrences, had
no space before it (``.``, ``,``, ``'s``) attaches to the left; one with no space after it
(``£``, the ``-`` inside ``family-friendly``) attaches to the right.

Saved as a Hugging Face ``WordLevel`` tokenizer (see :mod:`ctrlgen.text.base`). What the file alone
reproduces: the vocabulary and ids, the specials, ``[START] … [END]`` wrapping and UNK for unknown words.
What it does not: spaCy's word splitting — the file carries a regular-expression pre-tokenizer that
approximates it (contractions, punctuation, ``£30`` → ``£`` ``30``) but differs on e.g. ``20-£25`` (one
spaCy word) and runs of punctuation; ctrlgen itself always splits with spaCy and looks the words up in the
vocabulary. Nor the detokenisation rules: the file's decoder joins words with spaces, ctrlgen applies
``attach_left`` / ``attach_right``, kept in ``tokenizer_config.json``'s ``"ctrlgen"`` section.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ctrlgen.errors import CheckpointError, DataError
from ctrlgen.text.base import (
    HF_FORMAT,
    LEGACY_FORMAT,
    TOKENIZER_FILE,
    BaseTokenizer,
    added_specials,
    detect_kind,
    load_hf,
    read_json,
    start_end_processor,
)
from ctrlgen.text.vocab import UNK, Vocabulary

__all__ = ["TOKENIZER_FILE", "Tokenizer", "split_words", "word_spans"]
_FORMAT = LEGACY_FORMAT
#: The HF file's approximation of spaCy's English rules (applied after splitting at whitespace).
SPACY_LIKE_SPLIT = (r"(?i:n[’']t)(?![\p{L}\p{N}])|[’'](?i:s|re|ve|m|ll|d)(?![\p{L}\p{N}])"
                    r"|\p{L}+(?=(?i:n[’']t)(?![\p{L}\p{N}]))"
                    r"|\p{N}+(?:[.,:]\p{N}+)*(?:-£\p{N}+(?:[.,:]\p{N}+)*)*\p{L}*|\p{L}[\p{L}\p{N}]*"
                    r"|[^\s\p{L}\p{N}]")


@functools.lru_cache(maxsize=1)
def _spacy_tokenizer():  # type: ignore[no-untyped-def]
    import spacy

    return spacy.blank("en").tokenizer


def split_words(text: str) -> list[str]:
    """Split ``text`` into words with spaCy's English rules (whitespace tokens dropped)."""
    return [t.text for t in _spacy_tokenizer()(text) if not t.is_space]


def word_spans(text: str) -> list[tuple[str, int, int]]:
    """spaCy words of ``text`` with their character spans ``(word, start, stop)``, ``text[start:stop] == word``."""
    return [(t.text, t.idx, t.idx + len(t.text)) for t in _spacy_tokenizer()(text) if not t.is_space]


def _split_with_spacing(text: str) -> list[tuple[str, bool, bool]]:
    """Words with (space before, space after) flags."""
    toks = [t for t in _spacy_tokenizer()(text) if not t.is_space]
    out = []
    for k, t in enumerate(toks):
        before = k == 0 or bool(toks[k - 1].whitespace_)
        out.append((t.text, before, bool(t.whitespace_) or k == len(toks) - 1))
    return out


def build_word_level(vocab: Vocabulary) -> Any:
    """The ``tokenizers`` ``WordLevel`` tokenizer of ``vocab`` (same ids; specials declared special)."""
    from tokenizers import Regex, models, pre_tokenizers
    from tokenizers import Tokenizer as HFTokenizer

    hf = HFTokenizer(models.WordLevel({w: i for i, w in enumerate(vocab.words)}, unk_token=UNK))
    hf.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                pre_tokenizers.Split(Regex(SPACY_LIKE_SPLIT), "isolated")])
    hf.post_processor = start_end_processor()
    hf.add_special_tokens(added_specials())
    return hf


class Tokenizer(BaseTokenizer):
    """Word tokenizer with a fixed vocabulary and learned detokenisation rules."""

    kind = "word"

    def __init__(self, vocab: Vocabulary, attach_left: Iterable[str] = (),
                 attach_right: Iterable[str] = (), min_count: int = 1, hf: Any = None) -> None:
        self.vocab = vocab
        self.attach_left = frozenset(attach_left)
        self.attach_right = frozenset(attach_right)
        self.min_count = min_count
        self._hf = hf

    @property
    def hf(self) -> Any:
        """The ``tokenizers`` ``WordLevel`` tokenizer (built on first use)."""
        if self._hf is None:
            self._hf = build_word_level(self.vocab)
        return self._hf

    # ---------------------------------------------------------------- building
    @classmethod
    def train(cls, texts: Iterable[str], min_count: int = 5) -> Tokenizer:
        """Build the vocabulary (words seen ≥ ``min_count`` times) and detokenisation rules."""
        if min_count < 1:
            raise DataError(f"min_count must be >= 1, got {min_count}", "use 1 to keep every word")
        counts: Counter[str] = Counter()
        no_space_before: Counter[str] = Counter()
        docs = [_split_with_spacing(text) for text in texts]
        if not docs:
            raise DataError("cannot build a tokenizer from no text", "pass a non-empty corpus")
        for doc in docs:
            for word, before, _ in doc:
                counts[word] += 1
                no_space_before[word] += not before
        vocab = Vocabulary.build(counts, min_count)
        left = {w for w in vocab.words if counts[w] and no_space_before[w] / counts[w] > 0.5}
        # "Attach right" is judged only where the next word does not itself attach left
        # ("Arms." must not make "Arms" glue to whatever follows it).
        seen: Counter[str] = Counter()
        glued: Counter[str] = Counter()
        for doc in docs:
            for (word, _, after), (nxt, _, _) in itertools.pairwise(doc):
                if nxt not in left:
                    seen[word] += 1
                    glued[word] += not after
        right = [w for w in vocab.words if seen[w] and glued[w] / seen[w] > 0.5]
        return cls(vocab, left, right, min_count)

    # ---------------------------------------------------------------- encoding
    def tokenize(self, text: str) -> list[str]:
        return split_words(text)

    def encode(self, text: str, seq_len: int | None = None) -> list[int]:
        """``[START] ids [END]`` then PAD up to ``seq_len`` (no padding when ``None``).

        Raises ``DataError`` when the text does not fit in ``seq_len``.
        """
        return self.framed(self.vocab.ids(split_words(text)), seq_len, "words", text)

    def decode(self, ids: Sequence[int] | torch.Tensor, unk_words: Mapping[int, str] | None = None) -> str:
        """Text of the words between START and the first END (PAD and specials dropped). ``unk_words``
        maps sequence positions to the words an ``[UNK]`` there stands for (constraints with ``allow_unk``)."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        words = []
        for pos, i in enumerate(ids):
            if i == self.vocab.end_id:
                break
            if i in (self.vocab.pad_id, self.vocab.start_id):
                continue
            words.append(unk_words[pos] if unk_words and i == self.vocab.unk_id and pos in unk_words
                         else self.vocab.word(i))
        return self.detokenize(words)

    def detokenize(self, words: Sequence[str]) -> str:
        """Words → text by the learned attach rules; two word characters never glue (``than`` ``30`` stays
        ``than 30`` although ``30`` attaches to ``£``), except a contraction (``do`` ``n't``)."""
        out = ""
        glue_next = True
        for w in words:
            glue = glue_next or w in self.attach_left
            if glue and out and out[-1].isalnum() and w[:1].isalnum() and "'" not in w:
                glue = False
            if not glue:
                out += " "
            out += w
            glue_next = w in self.attach_right
        return out

    # ---------------------------------------------------------------- (de)serialisation
    def ctrlgen_config(self) -> dict[str, Any]:
        return {"kind": self.kind, "format": HF_FORMAT, "word_split": "spacy.blank('en')",
                "min_count": self.min_count, "attach_left": sorted(self.attach_left),
                "attach_right": sorted(self.attach_right)}

    def to_dict(self) -> dict:
        """The previous version's ``tokenizer.json`` (``ctrlgen.word-tokenizer.v1``); :meth:`save` writes
        the Hugging Face files instead."""
        return {"format": _FORMAT, "min_count": self.min_count, "words": self.vocab.words,
                "attach_left": sorted(self.attach_left), "attach_right": sorted(self.attach_right)}

    @classmethod
    def from_dict(cls, d: dict) -> Tokenizer:
        """Read the previous version's format (same ids, same detokenisation)."""
        if d.get("format") != _FORMAT:
            raise CheckpointError(f"tokenizer format is {d.get('format')!r}, expected {_FORMAT!r}",
                                  "the tokenizer.json was written by another program or version")
        return cls(Vocabulary(list(d["words"])), d["attach_left"], d["attach_right"], d["min_count"])

    @classmethod
    def load(cls, directory: str | os.PathLike) -> Tokenizer:
        """Read a word-level directory: the Hugging Face files or the previous version's tokenizer.json."""
        path = Path(directory) / TOKENIZER_FILE
        kind = detect_kind(directory)
        if kind != cls.kind:
            raise CheckpointError(f"{path} holds a {kind} tokenizer, not a word-level one",
                                  "load it with ctrlgen.text.loader.load_tokenizer")
        data = read_json(path)
        if "format" in data:
            try:
                return cls.from_dict(data)
            except (KeyError, TypeError) as e:
                raise CheckpointError(f"{path} is corrupted ({e})", "re-save the tokenizer") from None
        hf, vocab, section = load_hf(directory)
        try:
            return cls(vocab, section.get("attach_left", ()), section.get("attach_right", ()),
                       int(section.get("min_count", 1)), hf)
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{path.parent / 'tokenizer_config.json'}: bad 'ctrlgen' section ({e})",
                                  "re-save the tokenizer") from None
