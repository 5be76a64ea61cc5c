"""``pos-token.v1``: ``pos.v1``'s per-position UPOS tagger over *tokens*, for discrete (SEDD) diffusion.

Input: ``x: Tensor[B, L, V]`` — one-hot (or any distribution over the vocabulary, MASK included) — and
``t: Tensor[B]``, the total noise σ̄ the score model is conditioned on. As in ``semantic-token.v1``, a learned
``V → embed_dim`` projection replaces the frozen embeddings the SEDD model does not have, and σ̄ enters as the
masking probability ``1 − e^{−σ̄}`` (0–1000 scale for the time features), so the tagger is differentiable in
the one-hot input: what first-order rate reweighting (``ctrlgen.backends.discrete.guidance``) needs. Output:
per-position logits over ``START`` / ``END`` / ``PAD`` and the 17 UPOS tags, so a target fixes the length
too; ``log_prob`` sums over the constrained positions (−1 = unconstrained). Trained on x_t ~ q(x_t | x0) of
the model's own graph and noise (``ctrlgen train-classifier pos --model e2e-sedd``), on the spaCy oracle's
tags of the training references, one per word of the word-level vocabulary. It depends on the vocabulary
and ``seq_len`` only, not on the score model's weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from torch import Tensor, nn

from ctrlgen import POS, ConstraintError, ModelContext

from .pos import MARKERS, POSClassifier
from .semantic_token import masking_level


def tags_log_prob(logits: Tensor, target: Tensor) -> Tensor:
    """``logits: Tensor[B, L, n_tags]``, ``target: Tensor[B | 1, L]`` (−1 = unconstrained) → Σ log p: ``Tensor[B]``."""
    target = target.expand(logits.shape[0], -1)
    lp = logits.log_softmax(-1).gather(2, target.clamp(min=0)[..., None])[..., 0]
    return (lp * (target >= 0)).sum(1)


class POSTokenClassifier(POSClassifier):
    """Noise-aware per-position UPOS tagger (plus START/END/PAD) over noisy tokens (one-hot)."""

    space = "token"
    classifier_name: ClassVar[str] = "pos-token.v1"  # also set by the registry; never inherit "pos.v1"

    def __init__(self, *, vocab_size: int, seq_len: int, tags: list[str], embed_dim: int = 32, hidden: int = 64,
                 layers: int = 2, heads: int = 4, dropout: float = 0.1) -> None:
        super().__init__(embed_dim=embed_dim, seq_len=seq_len, tags=tags, hidden=hidden, layers=layers,
                         heads=heads, dropout=dropout)
        self.hparams["vocab_size"] = vocab_size
        self.tokens = nn.Linear(vocab_size, embed_dim, bias=False)  # one-hot → embedding (differentiable)
        nn.init.normal_(self.tokens.weight, std=1.0)

    def tag_logits(self, x: Tensor, t: Tensor) -> Tensor:
        """``x: Tensor[B, L, V]`` one-hot (float), ``t: Tensor[B]`` σ̄ → ``Tensor[B, L, n_tags]``."""
        return self.head(self.encoder(self.tokens(x), masking_level(t)))

    # ------------------------------------------------- optional fast path (ctrlgen.backends.discrete.guidance)
    def token_embedding(self) -> Tensor:
        """The one-hot → embedding projection as a table, ``Tensor[V, embed_dim]`` (``onehot @ table``)."""
        return self.tokens.weight.t()

    def log_prob_embedded(self, e: Tensor, t: Tensor, target: Tensor) -> Tensor:
        """:meth:`log_prob` of embedded tokens ``e: Tensor[B, L, embed_dim]`` (``token_embedding()[ids]``),
        ``t: Tensor[B]`` σ̄, ``target: Tensor[B | 1, L]`` → ``Tensor[B]``."""
        return tags_log_prob(self.head(self.encoder(e, masking_level(t))), target)

    @classmethod
    def create(cls, examples: Sequence[Any], context: ModelContext, *, embed_dim: int = 32, hidden: int = 64,
               layers: int = 2, heads: int = 4, dropout: float = 0.1) -> POSTokenClassifier:
        """Sizes from the model's vocabulary and ``seq_len``; the tag set is ``pos.v1``'s. Word-level models only
        (one token per word, so one tag per position)."""
        kind = getattr(context.tokenizer, "kind", "word")
        if kind != "word":
            raise ConstraintError(f"pos-token.v1 tags one token per word, but this model's tokenizer is {kind!r}",
                                  "train it for a word-level discrete model (e2e-sedd)")
        return cls(vocab_size=int(context.model.config.vocab_size), seq_len=context.seq_len,
                   tags=[*MARKERS, *POS.TAGS], embed_dim=embed_dim, hidden=hidden, layers=layers, heads=heads,
                   dropout=dropout)
