"""FUDGE-guided AR decoding (Yang & Klein 2021), the second AR baseline beside best-of-N.

At each step the draft LM's next-token distribution is reweighted by a future discriminator
(:class:`~ctrlgen.evaluation.fudge_model.FutureDiscriminator`):

    p(x_i | x_<i, a) ∝ p_LM(x_i | x_<i) · p(a | x_≤i)^λ,        λ = ``strength``

for every candidate ``x_i`` at once (one batched GRU step), then a draw at temperature 1. A composition of
``SemanticField``\\ s (``a & b``, ``MR.parse(...).constraint()``, weights) sums ``w_j · log p(a_j | x_≤i)``. ``top_k``
keeps only the LM's k most likely tokens at each step before reweighting (the paper's k; None: all of them).
``strength = 0`` reads no discriminator and draws exactly :meth:`ARLM.sample <ctrlgen.models.ar_lm.ARLM.sample>`'s
samples for the same seed (and batches): the reweighting is a ``steer`` hook on that sampler's own loop (KV cache,
banned ids, the forced last ``[END]``, the draw), so there is one sampling loop, not two.

```python
from ctrlgen.evaluation.fudge import fudge_decode
from ctrlgen.evaluation.fudge_model import FutureDiscriminator
out = fudge_decode(ar, tok, FutureDiscriminator.load(), SemanticField("name", "Blue Phoenix"), n=4, seed=0)
```
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ctrlgen.constraints.base import (
    Constraint,
    ConstraintError,
    OutOfVocabularyError,
    UnsupportedConstraintError,
)
from ctrlgen.constraints.mr import MR
from ctrlgen.constraints.semantic import SemanticField
from ctrlgen.errors import CheckpointError, SamplingError
from ctrlgen.evaluation.best_of_n import BestOfN, rank_draws
from ctrlgen.evaluation.fudge_model import FutureDiscriminator
from ctrlgen.models.ar_lm import ARLM, PAD_ID, START_ID, UNK_ID
from ctrlgen.text.tokenizer import Tokenizer, split_words


@dataclass(frozen=True)
class Attributes:
    """What the discriminator is asked about: ``fields: LongTensor[A]``, ``values: LongTensor[A, W]`` (PAD-padded
    word ids), ``weights: Tensor[A]`` (the composition's weights)."""

    fields: Tensor
    values: Tensor
    weights: Tensor


def attributes(constraint: Constraint | MR, tokenizer: Tokenizer, discriminator: FutureDiscriminator) -> Attributes:
    """The (field, value words, weight) of each ``SemanticField`` leaf. Anything else, a field the discriminator
    was not trained on, or a value word outside the vocabulary raises a :class:`ConstraintError`."""
    c = constraint.constraint() if isinstance(constraint, MR) else constraint
    known = discriminator.config.fields
    fields, values, weights = [], [], []
    for w, leaf in c.leaves():
        if not isinstance(leaf, SemanticField):
            raise UnsupportedConstraintError(f"FUDGE decoding steers SemanticField only, got {leaf!r}",
                                             "use ar_best_of_n for other constraints")
        if leaf.field not in known:
            raise ConstraintError(f"the FUDGE discriminator does not know the field {leaf.field!r}",
                                  f"it was trained on {', '.join(known)}")
        words = split_words(leaf.value)
        ids = tokenizer.vocab.ids(words)
        oov = [wd for wd, i in zip(words, ids, strict=True) if i == UNK_ID]
        if oov:
            raise OutOfVocabularyError(f"{leaf!r}: the words {oov} are not in the model's vocabulary",
                                       "FUDGE can only steer toward words the LM can write", words=oov)
        fields.append(known.index(leaf.field))
        values.append(ids)
        weights.append(w)
    if not fields:
        raise ConstraintError("FUDGE decoding needs at least one SemanticField", "e.g. SemanticField('food', 'Thai')")
    width = max(map(len, values))
    values = [v + [PAD_ID] * (width - len(v)) for v in values]
    return Attributes(torch.tensor(fields), torch.tensor(values), torch.tensor(weights, dtype=torch.float))


class _FudgeSteer:
    """:class:`~ctrlgen.models.ar_lm.Steer` for one batch of ``n`` samples: adds ``strength · Σ_j w_j log σ(d_j)``
    (the discriminator's log p(a_j | x_≤i) for every candidate x_i) to the LM's log-scores, then advances the
    discriminator's state ``[n·A, H]`` with the ids drawn (A attributes per sample)."""

    def __init__(self, disc: FutureDiscriminator, attrs: Attributes, n: int, strength: float, top_k: int | None,
                 device: torch.device) -> None:
        self.disc, self.n, self.strength, self.top_k = disc, n, strength, top_k
        self.A = attrs.fields.shape[0]
        fields = attrs.fields.to(device).repeat(n)
        self.values = attrs.values.to(device).repeat(n, 1)
        self.attr, self.table = disc.attribute(fields, self.values), disc.candidate_table()
        start = torch.full((n * self.A, 1), START_ID, dtype=torch.long, device=device)
        self.h = disc.sequence_logits(start, fields, self.values)[1][:, -1]
        self.weights = attrs.weights.to(device)[None, :, None]
        self.states: Tensor | None = None

    def __call__(self, logits: Tensor) -> Tensor:
        if self.top_k is not None and self.top_k < logits.shape[1]:
            kth = logits.topk(self.top_k, dim=-1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        d, self.states = self.disc.candidates(self.h, self.attr, self.values, self.table)  # [n·A, V], [n·A, V, H]
        guide = (self.weights * torch.nn.functional.logsigmoid(d).view(self.n, self.A, -1)).sum(1)
        return logits + self.strength * guide

    def advance(self, ids: Tensor) -> None:
        assert self.states is not None
        self.h = self.states[torch.arange(self.n * self.A, device=ids.device), ids.repeat_interleave(self.A)]


def fudge_decode(model: ARLM, tokenizer: Tokenizer, discriminator: FutureDiscriminator,
                 constraint: Constraint | MR, *, n: int, seed: int, strength: float = 1.0, top_k: int | None = None,
                 batch_size: int = 64) -> BestOfN:
    """Draw ``n`` texts from ``model`` guided toward ``constraint`` (see the module doc), in batches of
    ``batch_size`` from one generator seeded with ``seed``. Returns them in draw order (``pool = n``) with the
    constraint's check (``satisfied``, ``scores``) and how many passed."""
    if n <= 0 or batch_size <= 0:
        raise SamplingError(f"need n > 0 and batch_size > 0, got n={n}, batch_size={batch_size}")
    if not (isinstance(strength, int | float) and math.isfinite(strength) and strength >= 0):
        raise SamplingError(f"strength (λ) must be a finite number >= 0, got {strength!r}",
                            "0 is plain sampling; 1 is FUDGE's default")
    if top_k is not None and top_k < 1:
        raise SamplingError(f"top_k must be >= 1 or None, got {top_k}", "None reweights every token")
    if discriminator.config.vocab_size != model.config.vocab_size:
        raise CheckpointError(f"the discriminator's field model.vocab_size = {discriminator.config.vocab_size} "
                              f"differs from the LM's {model.config.vocab_size}",
                              "use the discriminator trained for this LM (it lives beside the LM's checkpoint)")
    attrs = attributes(constraint, tokenizer, discriminator)
    generator = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    was_training = (model.training, discriminator.training)
    model.eval()
    discriminator.eval()
    try:
        texts: list[str] = []
        device = next(model.parameters()).device
        while len(texts) < n:
            k = min(batch_size, n - len(texts))
            steer = _FudgeSteer(discriminator, attrs, k, strength, top_k, device) if strength > 0 else None
            ids = model.sample(k, generator, steer=steer)  # no_grad inside
            texts.extend(tokenizer.decode_batch(ids))
    finally:
        model.train(was_training[0])
        discriminator.train(was_training[1])
    check = constraint.constraint() if isinstance(constraint, MR) else constraint
    satisfied, scores = check.judge(texts)
    return BestOfN(texts, satisfied, scores, sum(satisfied), n)


def fudge_best_of(model: ARLM, tokenizer: Tokenizer, discriminator: FutureDiscriminator,
                  constraint: Constraint | MR, *, keep: int, pool: int, seed: int, strength: float = 1.0,
                  top_k: int | None = None, batch_size: int = 64) -> BestOfN:
    """``pool`` FUDGE draws ranked like :func:`~ctrlgen.evaluation.best_of_n.ar_best_of_n` (passing first, then by
    check score, ties in draw order); the best ``keep`` (``keep <= pool``)."""
    if not 0 < keep <= pool:
        raise SamplingError(f"need 0 < keep <= pool, got keep={keep}, pool={pool}")
    drawn = fudge_decode(model, tokenizer, discriminator, constraint, n=pool, seed=seed, strength=strength,
                         top_k=top_k, batch_size=batch_size)
    return rank_draws(drawn.texts, drawn.satisfied, drawn.scores, keep=keep)
