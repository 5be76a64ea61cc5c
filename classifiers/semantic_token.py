"""``semantic-token.v1``: ``semantic.v1``'s field/value heads over *tokens*, for discrete (SEDD) diffusion.

Input: ``x: Tensor[B, L, V]`` — one-hot (or any distribution over the vocabulary, MASK included) — and
``t: Tensor[B]``, the total noise σ̄ the score model is conditioned on. A learned ``V → embed_dim``
projection replaces the language model's frozen embeddings (the SEDD model has no latent space to read),
and σ̄ enters as the masking probability ``1 − e^{−σ̄}`` (on a 0–1000 scale for the time features), so the
classifier is differentiable in the one-hot input: what first-order rate reweighting
(``ctrlgen.backends.discrete.guidance``) needs. Trained on x_t ~ q(x_t | x0) of the model's own graph and noise
(``ctrlgen train-classifier semantic --model e2e-sedd``); it depends on the vocabulary and ``seq_len``
only, not on the score model's weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ctrlgen import ModelContext

from .semantic import SemanticClassifier, fields_log_prob


def masking_level(sigma: Tensor) -> Tensor:
    """σ̄ → probability that a token is masked (absorbing graph), scaled to 0..1000: ``Tensor[B]``."""
    return -torch.expm1(-sigma.float().clamp(min=0)) * 1000.0


class SemanticTokenClassifier(SemanticClassifier):
    """Noise-aware E2E slot classifier (per field: its value or none) over noisy tokens (one-hot)."""

    space = "token"

    def __init__(self, *, vocab_size: int, seq_len: int, values: dict[str, list[str]], embed_dim: int = 32,
                 hidden: int = 64, layers: int = 2, heads: int = 4, dropout: float = 0.1) -> None:
        super().__init__(embed_dim=embed_dim, seq_len=seq_len, values=values, hidden=hidden, layers=layers,
                         heads=heads, dropout=dropout)
        self.hparams["vocab_size"] = vocab_size
        self.tokens = nn.Linear(vocab_size, embed_dim, bias=False)  # one-hot → embedding (differentiable)
        nn.init.normal_(self.tokens.weight, std=1.0)

    def field_logits(self, x: Tensor, t: Tensor) -> list[Tensor]:
        """``x: Tensor[B, L, V]`` one-hot (float), ``t: Tensor[B]`` σ̄ → per field ``Tensor[B, n_values]``."""
        return super().field_logits(self.tokens(x), masking_level(t))

    # ------------------------------------------------- optional fast path (ctrlgen.backends.discrete.guidance)
    def token_embedding(self) -> Tensor:
        """The one-hot → embedding projection as a table, ``Tensor[V, embed_dim]``: ``onehot @ table`` is
        ``self.tokens(onehot)``, and ``table[ids]`` is the same without building a one-hot."""
        return self.tokens.weight.t()

    def log_prob_embedded(self, e: Tensor, t: Tensor, target: Tensor) -> Tensor:
        """:meth:`log_prob` of already embedded tokens ``e: Tensor[B, L, embed_dim]`` (``token_embedding()[ids]``
        or ``onehot @ token_embedding()``), ``t: Tensor[B]`` σ̄, ``target: Tensor[B | 1, F]`` → ``Tensor[B]``."""
        return fields_log_prob(SemanticClassifier.field_logits(self, e, masking_level(t)), target)

    @classmethod
    def create(cls, examples: Sequence[Any], context: ModelContext, *, embed_dim: int = 32, hidden: int = 64,
               layers: int = 2, heads: int = 4, dropout: float = 0.1) -> SemanticTokenClassifier:
        """Value sets from the training MRs, as ``semantic.v1``; sizes from the model's vocabulary."""
        values = SemanticClassifier.value_sets(examples)
        return cls(vocab_size=int(context.model.config.vocab_size), seq_len=context.seq_len, values=values,
                   embed_dim=embed_dim, hidden=hidden, layers=layers, heads=heads, dropout=dropout)
