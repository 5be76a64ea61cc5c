"""Word-level tokenizer: spaCy's rule-based English tokenizer (no model) plus a vocabulary.

Sequences follow Diffusion-LM's "pad" mode: ``[START] w1 … wn [END] [PAD] …`` at a fixed length.
Detokenisation is learned from the training text: a word that, in most of its occurrences, had
no space before it (``.``, ``,``, ``'s``) attaches to the left; one with no space after it
(``£``, the ``-`` inside ``family-friendly``) attaches to the right.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import torch

from ctrlgen.errors import CheckpointError, DataError
from ctrlgen.text.vocab import Vocabulary

TOKENIZER_FILE = "tokenizer.json"
_FORMAT = "ctrlgen.word-tokenizer.v1"


@functools.lru_cache(maxsize=1)
def _spacy_tokenizer():  # type: ignore[no-untyped-def]
    import spacy

    return spacy.blank("en").tokenizer


def split_words(text: str) -> list[str]:
    """Split ``text`` into words with spaCy's English rules (whitespace tokens dropped)."""
    return [t.text for t in _spacy_tokenizer()(text) if not t.is_space]


def _split_with_spacing(text: str) -> list[tuple[str, bool, bool]]:
    """Words with (space before, space after) flags."""
    toks = [t for t in _spacy_tokenizer()(text) if not t.is_space]
    out = []
    for k, t in enumerate(toks):
        before = k == 0 or bool(toks[k - 1].whitespace_)
        out.append((t.text, before, bool(t.whitespace_) or k == len(toks) - 1))
    return out


class Tokenizer:
    """Word tokenizer with a fixed vocabulary and learned detokenisation rules."""

    def __init__(self, vocab: Vocabulary, attach_left: Iterable[str] = (),
                 attach_right: Iterable[str] = (), min_count: int = 1) -> None:
        self.vocab = vocab
        self.attach_left = frozenset(attach_left)
        self.attach_right = frozenset(attach_right)
        self.min_count = min_count

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
    def __len__(self) -> int:
        return len(self.vocab)

    def tokenize(self, text: str) -> list[str]:
        return split_words(text)

    def encode(self, text: str, seq_len: int | None = None) -> list[int]:
        """``[START] ids [END]`` then PAD up to ``seq_len`` (no padding when ``None``).

        Raises ``DataError`` when the text does not fit in ``seq_len``.
        """
        ids = [self.vocab.start_id, *self.vocab.ids(split_words(text)), self.vocab.end_id]
        if seq_len is not None:
            if len(ids) > seq_len:
                raise DataError(f"text has {len(ids) - 2} words, more than seq_len - 2 = {seq_len - 2}: "
                                f"{text[:60]!r}", "use a larger seq_len or a shorter text")
            ids += [self.vocab.pad_id] * (seq_len - len(ids))
        return ids

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

    def decode_batch(self, ids: torch.Tensor, unk_words: Mapping[int, str] | None = None) -> list[str]:
        """``ids: Tensor[B, L]`` → B texts (``unk_words``: see :meth:`decode`)."""
        return [self.decode(row, unk_words) for row in ids.tolist()]

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
    def to_dict(self) -> dict:
        return {"format": _FORMAT, "min_count": self.min_count, "words": self.vocab.words,
                "attach_left": sorted(self.attach_left), "attach_right": sorted(self.attach_right)}

    @classmethod
    def from_dict(cls, d: dict) -> Tokenizer:
        if d.get("format") != _FORMAT:
            raise CheckpointError(f"tokenizer format is {d.get('format')!r}, expected {_FORMAT!r}",
                                  "the tokenizer.json was written by another program or version")
        return cls(Vocabulary(list(d["words"])), d["attach_left"], d["attach_right"], d["min_count"])

    def save(self, directory: str | os.PathLike) -> Path:
        path = Path(directory) / TOKENIZER_FILE
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=0))
        return path

    @classmethod
    def load(cls, directory: str | os.PathLike) -> Tokenizer:
        path = Path(directory) / TOKENIZER_FILE
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except FileNotFoundError:
            raise CheckpointError(f"{path} is missing", "a checkpoint directory holds tokenizer.json") from None
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise CheckpointError(f"{path} is corrupted ({e})", "re-save the tokenizer") from None
