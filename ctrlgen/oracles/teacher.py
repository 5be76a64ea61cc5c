"""Teacher-LM fluency ("lm-score", Diffusion-LM §7): perplexity of texts under a fixed ``ARLM``.

``lm_score = exp(Σ_texts NLL / Σ_texts tokens)`` — corpus perplexity, every token weighted equally.
Texts are encoded with the teacher's own word tokenizer as ``[START] w1 … wn [END]``; the n words and
END are scored (START is context only). Words outside the teacher's vocabulary are scored as UNK, so
keep generated and teacher vocabularies the same (train both on the same split with the same
``min_count``) or the score flatters rare words.

Texts longer than the teacher's ``seq_len - 2`` words: with ``on_long="truncate"`` (the default) the
first ``seq_len - 1`` words are scored, END is not, and the number of truncated texts is logged and
returned in ``TeacherScores.truncated``; with ``on_long="error"`` they raise ``DataError``. Samples from
a model with the teacher's ``seq_len`` fit unless re-tokenising their detokenised text splits words
differently, so truncation is rare and reported rather than fatal.

The published teacher must stay fixed: lm-scores are comparable only under the same teacher weights.
A retrained teacher (other data, seed, size or library version) is published under a **new name**
(``e2e-teacher-2``, …), never over the old one. ``Teacher.fingerprint`` (SHA-256 of the weights file)
identifies the weights; record it next to every reported score.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor

from ctrlgen.errors import CheckpointError, DataError
from ctrlgen.models.ar_lm import ARLM
from ctrlgen.models.assets import resolve_model_path
from ctrlgen.models.pretrained import WEIGHTS_FILE, load_pretrained
from ctrlgen.text.tokenizer import Tokenizer, split_words

log = logging.getLogger(__name__)

OnLong = Literal["truncate", "error"]


@dataclass
class TeacherScores:
    """Per-text results: ``nll: Tensor[N]`` (summed nats), ``tokens: Tensor[N]`` (scored tokens),
    ``truncated`` (how many texts were cut to fit)."""

    nll: Tensor
    tokens: Tensor
    truncated: int = 0

    @property
    def perplexity(self) -> float:
        """Corpus perplexity exp(Σ nll / Σ tokens)."""
        return math.exp(float(self.nll.sum()) / max(1, int(self.tokens.sum())))

    def per_text_perplexity(self) -> Tensor:
        """``Tensor[N]``: exp(nll_i / tokens_i) of each text."""
        return torch.exp(self.nll / self.tokens.clamp(min=1))


def encode_for_teacher(texts: Sequence[str], tokenizer: Tokenizer, seq_len: int,
                       on_long: OnLong = "truncate") -> tuple[Tensor, int]:
    """``Tensor[N, seq_len]`` ids ``[START] … [END] PAD…`` and the number of truncated texts (those keep
    their first ``seq_len - 1`` words and no END)."""
    if on_long not in ("truncate", "error"):
        raise DataError(f"on_long must be 'truncate' or 'error', got {on_long!r}")
    v = tokenizer.vocab
    rows, truncated = [], 0
    for text in texts:
        ids = [v.start_id, *v.ids(split_words(text)), v.end_id]
        if len(ids) > seq_len:
            if on_long == "error":
                raise DataError(f"text has {len(ids) - 2} words, more than the teacher's seq_len - 2 = "
                                f"{seq_len - 2}: {text[:60]!r}", "pass on_long='truncate' or shorter texts")
            ids, truncated = ids[:seq_len], truncated + 1
        rows.append(ids + [v.pad_id] * (seq_len - len(ids)))
    if truncated:
        log.warning("lm-score: truncated %d of %d texts longer than seq_len - 2 = %d words",
                    truncated, len(texts), seq_len - 2)
    return torch.tensor(rows, dtype=torch.long).reshape(len(rows), seq_len), truncated


@torch.no_grad()
def text_nlls(texts: Sequence[str], teacher: ARLM, tokenizer: Tokenizer, batch_size: int = 128,
              on_long: OnLong = "truncate") -> TeacherScores:
    """Score each text under ``teacher`` (eval mode for the call; its previous mode is restored)."""
    if not texts:
        raise DataError("no texts to score", "pass at least one text")
    if len(tokenizer) != teacher.config.vocab_size:
        raise CheckpointError(f"tokenizer has {len(tokenizer)} words but the teacher's vocab_size is "
                              f"{teacher.config.vocab_size}", "use the tokenizer saved with the teacher")
    ids, truncated = encode_for_teacher(texts, tokenizer, teacher.config.seq_len, on_long)
    device = next(teacher.parameters()).device
    was_training = teacher.training
    teacher.eval()
    nll, tokens = [], []
    try:
        for chunk in ids.split(batch_size):
            chunk = chunk.to(device)
            nll.append(teacher.nll(chunk).double().cpu())
            tokens.append(teacher.token_counts(chunk).cpu())
    finally:
        teacher.train(was_training)
    return TeacherScores(torch.cat(nll), torch.cat(tokens), truncated)


def lm_score(texts: Sequence[str], teacher: ARLM, tokenizer: Tokenizer, batch_size: int = 128,
             on_long: OnLong = "truncate") -> float:
    """Corpus perplexity of ``texts`` under ``teacher`` (lower is more fluent)."""
    return text_nlls(texts, teacher, tokenizer, batch_size, on_long).perplexity


@dataclass
class Teacher:
    """A published teacher LM: the model, its tokenizer, a name and a fingerprint of its weights."""

    model: ARLM
    tokenizer: Tokenizer
    name: str
    fingerprint: str  # SHA-256 of model.safetensors: report it with every lm-score
    info: dict[str, Any] = field(default_factory=dict, repr=False)  # the checkpoint's config.json

    @classmethod
    def load(cls, directory: str | os.PathLike, name: str | None = None,
             device: str | torch.device = "cpu") -> Teacher:
        """Load a teacher written by ``save_pretrained``, or a bundled one by name (``"e2e-teacher-1"``).
        ``name`` defaults to the directory's name, or to its parent's for a trainer's final
        ``output_dir/model`` (``runs/e2e-teacher-1/model`` → ``e2e-teacher-1``)."""
        directory = resolve_model_path(directory)
        model, tokenizer, cfg = load_pretrained(directory, ARLM)
        digest = hashlib.sha256((directory / WEIGHTS_FILE).read_bytes()).hexdigest()
        name = name or (directory.resolve().parent.name if directory.name == "model" else directory.name)
        return cls(model.to(device).eval(), tokenizer, str(name), digest, cfg)  # type: ignore[arg-type]

    def nlls(self, texts: Sequence[str], batch_size: int = 128, on_long: OnLong = "truncate") -> TeacherScores:
        return text_nlls(texts, self.model, self.tokenizer, batch_size, on_long)

    def score(self, texts: Sequence[str], batch_size: int = 128, on_long: OnLong = "truncate") -> float:
        """``lm_score`` under this teacher."""
        return self.nlls(texts, batch_size, on_long).perplexity
