"""The interface every tokenizer implements, and the Hugging Face files they are saved as.

A tokenizer directory holds three files, all readable by ``transformers`` without ctrlgen:

* ``tokenizer.json`` — a real Hugging Face ``tokenizers`` file (a ``WordLevel`` or a byte-level ``BPE``
  model); ``tokenizers.Tokenizer.from_file`` and ``PreTrainedTokenizerFast(tokenizer_file=…)`` load it.
  The five specials ``[PAD] [START] [END] [UNK] [MASK]`` are ``added_tokens`` with ``special: true`` at
  ids ``0..4`` (every backend relies on that layout), and a post-processor wraps a text as
  ``[START] … [END]`` as :meth:`BaseTokenizer.encode` does.
* ``tokenizer_config.json`` — ``tokenizer_class``, the special-token names (so
  ``PreTrainedTokenizerFast.from_pretrained(directory)`` knows its pad / mask / unk tokens) and a
  ``"ctrlgen"`` section: the kind (``word`` / ``bpe``), the format version and, for the word level, the
  learned detokenisation rules.
* ``special_tokens_map.json`` — the special-token names again (the older ``transformers`` convention).

Checkpoints of the previous version (``tokenizer.json`` = ``{"format": "ctrlgen.word-tokenizer.v1", …}``)
still load, as the word-level tokenizer (:func:`detect_kind`).
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch

from ctrlgen.errors import CheckpointError, DataError
from ctrlgen.text.vocab import END, MASK, PAD, SPECIALS, START, UNK, Vocabulary

TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_FILE = "special_tokens_map.json"
LEGACY_FORMAT = "ctrlgen.word-tokenizer.v1"
HF_FORMAT = "ctrlgen.hf-tokenizer.v2"
#: transformers' names of the specials (``[START]``/``[END]`` play BOS/EOS).
SPECIAL_NAMES: dict[str, str] = {"pad_token": PAD, "bos_token": START, "eos_token": END, "unk_token": UNK,
                                 "mask_token": MASK}
_KINDS = {"WordLevel": "word", "BPE": "bpe"}


class BaseTokenizer(ABC):
    """What models, constraints and backends use of a tokenizer. ``vocab.words[i]`` is token ``i``'s
    string (a word, or a byte-level BPE piece such as ``Ġthe``); ids ``0..4`` are the specials."""

    kind: ClassVar[str]
    vocab: Vocabulary

    def __len__(self) -> int:
        return len(self.vocab)

    @property
    @abstractmethod
    def hf(self) -> Any:
        """The ``tokenizers.Tokenizer`` this tokenizer is saved as."""

    @abstractmethod
    def tokenize(self, text: str) -> list[str]:
        """Token strings of ``text`` (``vocab.ids(tokenize(t))`` are the ids ``encode`` puts between
        START and END)."""

    @abstractmethod
    def encode(self, text: str, seq_len: int | None = None) -> list[int]:
        """``[START] ids [END]`` then PAD up to ``seq_len``; ``DataError`` stating the limit when too long."""

    def framed(self, body: Sequence[int], seq_len: int | None, unit: str, text: str) -> list[int]:
        """``[START] body [END]`` then PAD up to ``seq_len`` (none when ``None``) — what :meth:`encode` returns for a
        text whose token ids are ``body``; ``DataError`` naming the limit in ``unit`` s ("words", "subwords") when
        they do not fit."""
        ids = [self.vocab.start_id, *body, self.vocab.end_id]
        if seq_len is not None:
            if len(ids) > seq_len:
                raise DataError(f"text has {len(ids) - 2} {unit}, more than seq_len - 2 = {seq_len - 2}: "
                                f"{text[:60]!r}", "use a larger seq_len or a shorter text")
            ids += [self.vocab.pad_id] * (seq_len - len(ids))
        return ids

    @abstractmethod
    def detokenize(self, tokens: Sequence[str]) -> str:
        """Token strings → text."""

    @abstractmethod
    def ctrlgen_config(self) -> dict[str, Any]:
        """The ``"ctrlgen"`` section of ``tokenizer_config.json`` (kind, format and what the kind needs)."""

    @classmethod
    @abstractmethod
    def load(cls, directory: str | os.PathLike) -> BaseTokenizer:
        """Read a directory written by :meth:`save`."""

    @classmethod
    @abstractmethod
    def train(cls, texts: Iterable[str], **options: Any) -> BaseTokenizer:
        """Build a tokenizer from a corpus."""

    def text_intact(self, ids: Sequence[int] | torch.Tensor) -> bool:
        """Whether the text of ``ids`` decodes without loss. Always for a vocabulary of whole words; a byte-level
        tokenizer overrides it (a model can write a fragment of a character, which decodes to U+FFFD)."""
        return True

    def content(self, ids: Sequence[int] | torch.Tensor) -> list[tuple[int, int]]:
        """``(position, id)`` of the tokens a text is made of: those before the first END, PAD and START
        dropped."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        v, out = self.vocab, []
        for pos, i in enumerate(ids):
            if i == v.end_id:
                break
            if i not in (v.pad_id, v.start_id):
                out.append((pos, int(i)))
        return out

    @abstractmethod
    def decode(self, ids: Sequence[int] | torch.Tensor, unk_words: Mapping[int, str] | None = None) -> str:
        """Text of the tokens between START and the first END (PAD and START dropped). ``unk_words`` maps
        sequence positions to the words an ``[UNK]`` there stands for."""

    def decode_batch(self, ids: torch.Tensor, unk_words: Mapping[int, str] | None = None) -> list[str]:
        """``ids: Tensor[B, L]`` → B texts (``unk_words``: see :meth:`decode`)."""
        return [self.decode(row, unk_words) for row in ids.tolist()]

    def save(self, directory: str | os.PathLike) -> Path:
        """Write the three files into ``directory``; returns the ``tokenizer.json`` path."""
        directory = Path(directory)
        path = directory / TOKENIZER_FILE
        self.hf.save(str(path))
        names = dict(SPECIAL_NAMES)
        config = {"tokenizer_class": "PreTrainedTokenizerFast", **names, "model_max_length": 1_000_000,
                  "clean_up_tokenization_spaces": False, "ctrlgen": self.ctrlgen_config()}
        (directory / TOKENIZER_CONFIG_FILE).write_text(json.dumps(config, ensure_ascii=False, indent=1))
        (directory / SPECIAL_TOKENS_FILE).write_text(json.dumps(names, ensure_ascii=False, indent=1))
        return path


def added_specials() -> list[Any]:
    """The specials as ``tokenizers.AddedToken`` (special=True), in id order."""
    from tokenizers import AddedToken

    return [AddedToken(s, special=True, normalized=False) for s in SPECIALS]


def start_end_processor() -> Any:
    """Post-processor wrapping a text as ``[START] $A [END]``."""
    from tokenizers import processors

    return processors.TemplateProcessing(single=f"{START} $A {END}", pair=f"{START} $A {END} $B {END}",
                                         special_tokens=[(START, 1), (END, 2)])


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing", "a checkpoint directory holds tokenizer.json") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is corrupted ({e})", "re-save the tokenizer") from None


def detect_kind(directory: str | os.PathLike) -> str:
    """``"word"`` or ``"bpe"`` from ``directory/tokenizer.json``; ``CheckpointError`` naming the file when it
    is neither ctrlgen's legacy format nor a Hugging Face file with a WordLevel or BPE model."""
    path = Path(directory) / TOKENIZER_FILE
    data = read_json(path)
    if isinstance(data, dict) and "format" in data:
        if data["format"] != LEGACY_FORMAT:
            raise CheckpointError(f"{path}: tokenizer format is {data['format']!r}, expected {LEGACY_FORMAT!r} "
                                  "or a Hugging Face tokenizer.json", "the file was written by another program")
        return "word"
    model = data.get("model") if isinstance(data, dict) else None
    kind = _KINDS.get(model.get("type")) if isinstance(model, dict) else None
    if kind is None:
        found = model.get("type") if isinstance(model, dict) else "no 'model' field"
        raise CheckpointError(f"{path} is neither a ctrlgen tokenizer ({LEGACY_FORMAT}) nor a Hugging Face "
                              f"tokenizer.json with a WordLevel or BPE model (model: {found})",
                              "save the tokenizer with ctrlgen or train one with recipes/train_tokenizer.py")
    return kind


def load_hf(directory: str | os.PathLike) -> tuple[Any, Vocabulary, dict[str, Any]]:
    """``(tokenizers.Tokenizer, Vocabulary, ctrlgen section)`` of a Hugging Face tokenizer directory, with
    the specials checked: each at its id ``0..4``, declared ``special`` in ``added_tokens``."""
    from tokenizers import Tokenizer as HFTokenizer

    directory = Path(directory)
    path = directory / TOKENIZER_FILE
    data = read_json(path)
    added = {t.get("content"): t for t in data.get("added_tokens") or [] if isinstance(t, dict)}
    for i, s in enumerate(SPECIALS):
        tok = added.get(s)
        if tok is None:
            raise CheckpointError(f"{path}: special token {s} is missing from added_tokens",
                                  f"the specials {SPECIALS} must be tokens 0..4")
        if tok.get("id") != i or not tok.get("special"):
            raise CheckpointError(f"{path}: special token {s} has id {tok.get('id')} (special="
                                  f"{tok.get('special')}), expected id {i} (special=true)",
                                  f"the specials {SPECIALS} must be tokens 0..4, declared special")
    try:
        hf = HFTokenizer.from_str(json.dumps(data))
    except Exception as e:  # noqa: BLE001  (the Rust side raises plain Exception)
        raise CheckpointError(f"{path} is not a valid Hugging Face tokenizer ({e})", "re-save the tokenizer") from None
    size = hf.get_vocab_size(with_added_tokens=True)
    words = [hf.id_to_token(i) for i in range(size)]
    if any(w is None for w in words):
        raise CheckpointError(f"{path}: token ids are not contiguous 0..{size - 1}", "re-train the tokenizer")
    config_path = directory / TOKENIZER_CONFIG_FILE
    config = read_json(config_path) if config_path.exists() else {}
    section = config.get("ctrlgen", {}) if isinstance(config, dict) else {}
    if not isinstance(section, dict):
        raise CheckpointError(f"{config_path}: field 'ctrlgen' is not an object", "re-save the tokenizer")
    return hf, Vocabulary(words), section
