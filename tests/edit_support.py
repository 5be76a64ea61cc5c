"""Shared pieces of the edit backend's tests: a check-only word constraint and a tiny untrained generator."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import torch

from ctrlgen.backends.edit.generator import DiffusERGenerator
from ctrlgen.backends.edit.joint import EditModel, EditModelConfig
from ctrlgen.constraints.base import Constraint
from ctrlgen.models.ar_lm import ARLM, ARLMConfig
from ctrlgen.models.pretrained import save_pretrained
from ctrlgen.text.tokenizer import Tokenizer, split_words


class HasWord(Constraint):
    """A check-only constraint: the text contains ``word`` (stands in for a closed-set field such as SemanticField)."""

    faces: ClassVar[frozenset[str]] = frozenset({"check"})

    def __init__(self, word: str) -> None:
        self.word = word

    def satisfied(self, texts: Sequence[str]) -> list[bool]:
        return [self.word in split_words(t) for t in texts]

    def __repr__(self) -> str:
        return f"HasWord({self.word!r})"


def tiny_edit_generator(root: Path, tok: Tokenizer, seq_len: int) -> DiffusERGenerator:
    """An untrained edit model (4 revision steps) with an untrained AR draft model beside it, saved under ``root``
    and loaded back (seed 0)."""
    torch.manual_seed(0)
    ar = ARLM(ARLMConfig(vocab_size=len(tok), seq_len=seq_len, hidden=32, layers=2, heads=2, dropout=0.0)).eval()
    save_pretrained(root / "ar", ar, tok)
    model = EditModel(EditModelConfig(vocab_size=len(tok), seq_len=seq_len, hidden=32, layers=2, heads=2, dropout=0.0))
    path = save_pretrained(root / "edit", model, tok, {"diffusion": {"steps": 4}})
    return DiffusERGenerator.from_pretrained(path, draft_model=str(root / "ar"))
