"""``load_tokenizer(directory)``: the one loader, for every tokenizer kind and the previous version's files."""

from __future__ import annotations

import os

from ctrlgen.text.base import BaseTokenizer, detect_kind
from ctrlgen.text.bpe import BPETokenizer
from ctrlgen.text.tokenizer import Tokenizer

KINDS: dict[str, type[BaseTokenizer]] = {Tokenizer.kind: Tokenizer, BPETokenizer.kind: BPETokenizer}


def load_tokenizer(directory: str | os.PathLike) -> BaseTokenizer:
    """The tokenizer saved in ``directory``: its kind is read from ``tokenizer.json`` (the model type of a
    Hugging Face file — ``WordLevel`` or ``BPE`` — or the previous version's word-level format).
    ``CheckpointError`` naming the file when it is missing, corrupted, of another kind or has its special
    tokens missing or at other ids than ``0..4``."""
    return KINDS[detect_kind(directory)].load(directory)
