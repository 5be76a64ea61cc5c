"""``syntax-token.v1``: ``syntax.v1``'s span-label classifier over *tokens*, for discrete (SEDD) diffusion.

Input: ``x: Tensor[B, L, V]`` — one-hot (or any distribution over the vocabulary, MASK included) — and
``t: Tensor[B]``, the total noise σ̄ the score model is conditioned on. As in ``pos-token.v1``, a learned
``V → embed_dim`` projection replaces the frozen embeddings the SEDD model does not have, and σ̄ enters as the
masking probability ``1 − e^{−σ̄}`` (0–1000 scale for the time features), so the span scores are
differentiable in the one-hot input: what first-order rate reweighting (``ctrlgen.backends.discrete.guidance``)
needs. Everything else is ``syntax.v1``'s: a span ``(p, q)`` scores its labels (0 = not a constituent, a unary
chain as one label) from ``left(h_p) + right(h_q)``; the target is a chart ``Tensor[B | 1, L, L]`` of label
indices (−1 = unconstrained) — the whole chart of the target's words for ``SyntaxTree``, the given cells for
``SyntaxSpans`` — and ``log p`` sums the per-span log-probabilities of the constrained cells. Trained on
x_t ~ q(x_t | x0) of the model's own graph and noise (``ctrlgen train-classifier tree --model e2e-sedd``), on the
parser oracle's silver trees of the training references, one position per word of the word-level vocabulary.
It depends on the vocabulary and ``seq_len`` only, not on the score model's weights.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from torch import Tensor, nn

from ctrlgen import ConstraintError, ModelContext, SyntaxTree

from .semantic_token import masking_level
from .syntax import NOT_A_CONSTITUENT, SpanClassifier, _fitting_words, _silver


def chart_log_prob(chart_logits: Callable[[int], Tensor], target: Tensor, batch: int) -> Tensor:
    """Σ log p over the constrained cells. ``chart_logits(E) -> Tensor[B, E, E, n_labels]`` (positions ``< E``),
    ``target: Tensor[B | 1, L, L]`` (−1 = unconstrained) → ``Tensor[B]``; only the corner ``E × E`` that holds
    a constrained cell is scored."""
    target = target.expand(batch, -1, -1)
    used = (target >= 0).flatten(0, 1).any(0).nonzero()
    extent = int(used.max()) + 1 if len(used) else 1
    target = target[:, :extent, :extent]
    lp = chart_logits(extent).log_softmax(-1).gather(3, target.clamp(min=0)[..., None])[..., 0]
    return (lp * (target >= 0)).sum((1, 2))


class SyntaxTokenClassifier(SpanClassifier):
    """Noise-aware span-label classifier (label 0 = not a constituent) over noisy tokens (one-hot)."""

    space = "token"
    classifier_name: ClassVar[str] = "syntax-token.v1"  # also set by the registry; never inherit "syntax.v1"

    def __init__(self, *, vocab_size: int, seq_len: int, labels: list[str], embed_dim: int = 32, hidden: int = 64,
                 layers: int = 2, heads: int = 4, dropout: float = 0.1, span_hidden: int = 64) -> None:
        super().__init__(embed_dim=embed_dim, seq_len=seq_len, labels=labels, hidden=hidden, layers=layers,
                         heads=heads, dropout=dropout, span_hidden=span_hidden)
        self.hparams["vocab_size"] = vocab_size
        self.tokens = nn.Linear(vocab_size, embed_dim, bias=False)  # one-hot → embedding (differentiable)
        nn.init.normal_(self.tokens.weight, std=1.0)

    def chart_logits(self, x: Tensor, t: Tensor, extent: int | None = None) -> Tensor:
        """``x: Tensor[B, L, V]`` one-hot (float), ``t: Tensor[B]`` σ̄ → ``Tensor[B, E, E, n_labels]``."""
        return self.embedded_chart_logits(self.tokens(x), t, extent)

    def embedded_chart_logits(self, e: Tensor, t: Tensor, extent: int | None = None) -> Tensor:
        """``e: Tensor[B, L, embed_dim]`` embedded tokens, ``t: Tensor[B]`` σ̄ → ``Tensor[B, E, E, n_labels]``."""
        return SpanClassifier.chart_logits(self, e, masking_level(t), extent)

    def log_prob(self, x: Tensor, t: Tensor, target: Tensor) -> Tensor:
        """``x: Tensor[B, L, V]``, ``t: Tensor[B]`` σ̄, ``target: Tensor[B | 1, L, L]`` long (−1 = unconstrained)
        → ``Tensor[B]``."""
        return chart_log_prob(lambda extent: self.chart_logits(x, t, extent), target, x.shape[0])

    # ------------------------------------------------- optional fast path (ctrlgen.backends.discrete.guidance)
    def token_embedding(self) -> Tensor:
        """The one-hot → embedding projection as a table, ``Tensor[V, embed_dim]`` (``onehot @ table``)."""
        return self.tokens.weight.t()

    def log_prob_embedded(self, e: Tensor, t: Tensor, target: Tensor) -> Tensor:
        """:meth:`log_prob` of embedded tokens ``e: Tensor[B, L, embed_dim]`` (``token_embedding()[ids]``),
        ``t: Tensor[B]`` σ̄, ``target: Tensor[B | 1, L, L]`` → ``Tensor[B]``."""
        return chart_log_prob(lambda extent: self.embedded_chart_logits(e, t, extent), target, e.shape[0])

    @classmethod
    def create(cls, examples: Sequence[Any], context: ModelContext, *, embed_dim: int = 32, hidden: int = 64,
               layers: int = 2, heads: int = 4, dropout: float = 0.1, span_hidden: int = 64,
               min_count: int = 5) -> SyntaxTokenClassifier:
        """Labels as ``syntax.v1`` (unary chains seen ≥ ``min_count`` times in the silver parses); sizes from the
        model's vocabulary and ``seq_len``. Word-level models only (one token per word, so one position per leaf)."""
        kind = getattr(context.tokenizer, "kind", "word")
        if kind != "word":
            raise ConstraintError(f"syntax-token.v1 reads one token per word, but this model's tokenizer is {kind!r}",
                                  "train it for a word-level discrete model (e2e-sedd)")
        counts: Counter[str] = Counter()
        for tree in _silver(_fitting_words(examples, context)):
            counts.update(lab for _, _, lab in SyntaxTree(tree).spans)
        labels = [NOT_A_CONSTITUENT, *(lab for lab, c in counts.most_common() if c >= min_count)]
        return cls(vocab_size=int(context.model.config.vocab_size), seq_len=context.seq_len, labels=labels,
                   embed_dim=embed_dim, hidden=hidden, layers=layers, heads=heads, dropout=dropout,
                   span_hidden=span_hidden)
