"""DiffusER's two networks for edit diffusion: a tagger and a placeholder-and-fill generator.

Both read the tokenizer's layout ``[START] w1 … wn [END] PAD …`` (``LongTensor[B, L]``) and the diffusion step
``t`` of that sequence (``Tensor[B]`` or one number for the batch), through token embeddings, the shared
:class:`~ctrlgen.models.backbone.Backbone` and a :class:`~ctrlgen.models.backbone.TimestepEmbedding` of ``t``.
Position ``k`` of the input is entry ``k`` of an :class:`~ctrlgen.backends.edit.edits.EditScript`: position 0 (START)
is slot 0, where INSERT means "insert at the beginning", and positions ``1..n`` are the words. END and PAD
are not slots: they are left out of every loss and read as KEEP.

- :class:`EditTagger` labels each slot KEEP / DELETE / REPLACE / INSERT (slot 0 only KEEP or INSERT).
- :class:`EditGenerator` writes the spans in two parallel passes, as the Levenshtein Transformer (Gu et al.
  2019) does: (a) from ``x_t`` and its tags, a categorical over span lengths ``0..max_span`` at each slot
  (no Poisson assumption; REPLACE/INSERT slots need ≥ 1, other slots exactly 0); (b) the tags applied with
  that many [MASK] placeholders per span, then a word for every placeholder at once.

**Why placeholders and not DiffusER's autoregressive span generator.** A revision then costs two encoder
passes whatever the span lengths, instead of one decoder pass per generated word; on CPU, where the
library's default models run, that is the difference between a few and a few dozen forward passes per
step. The price is independent words inside one span (a later revision can repair them). The AR generator
is :mod:`ctrlgen.backends.edit.ar_generator` (same targets; measured against this one in the e2e-edit README).

Training targets come from the scripts of :class:`~ctrlgen.backends.edit.corruption.EditDiffusion`:
:func:`placeholder_sequence` and :func:`length_targets` build them on top of ``apply_edits``, and
:func:`make_edit_batch` packs a batch. Positions without a target hold ``IGNORE_INDEX``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ctrlgen.backends.edit.edits import Edit, EditScript, apply_edits
from ctrlgen.errors import ConfigError, DataError
from ctrlgen.models.backbone import Backbone, BackboneConfig, TimestepEmbedding
from ctrlgen.models.hub import HubMixin
from ctrlgen.text.vocab import END, MASK, PAD, SPECIALS, START

IGNORE_INDEX = -100  # target of positions that carry no target (torch's cross-entropy default)
PAD_ID, START_ID, END_ID, MASK_ID = (SPECIALS.index(s) for s in (PAD, START, END, MASK))
_NO_FILL = (PAD_ID, START_ID, END_ID, MASK_ID)  # never written into a placeholder (UNK is: data has it)
_IDS_HINT = "pass ids laid out as [START] w1 … wn [END] PAD … (tokenizer.encode(text, seq_len))"


@dataclass
class EditTaggerConfig:
    vocab_size: int  # number of ids incl. specials (len(tokenizer))
    seq_len: int = 48  # maximum sequence length incl. START/END; E2E: 99.3% of references fit in 48
    hidden: int = 128  # transformer width H
    layers: int = 4  # transformer blocks
    heads: int = 4  # attention heads (hidden must be divisible by heads)
    dropout: float = 0.1  # dropout inside the transformer
    attention: Literal["sdpa", "bert"] = "sdpa"  # encoder implementation (see models/backbone.py)

    def __post_init__(self) -> None:
        if not isinstance(self.vocab_size, int) or self.vocab_size <= len(SPECIALS):
            raise ConfigError(f"vocab_size must be an int > {len(SPECIALS)} (the specials), got {self.vocab_size!r}",
                              "pass len(tokenizer)")
        if self.seq_len < 2:
            raise ConfigError(f"seq_len must be ≥ 2 (START and END), got {self.seq_len}", "E2E uses 48")
        if self.hidden < 1 or self.heads < 1 or self.hidden % self.heads:
            raise ConfigError(f"hidden ({self.hidden}) must be a positive multiple of heads ({self.heads})",
                              "e.g. hidden = 128, heads = 4")

    def backbone(self) -> BackboneConfig:
        return BackboneConfig(hidden=self.hidden, layers=self.layers, heads=self.heads, dropout=self.dropout,
                              seq_len=self.seq_len, attention=self.attention)


@dataclass
class EditGeneratorConfig(EditTaggerConfig):
    max_span: int = 16  # longest span one slot writes per revision: length classes 0..max_span. Gold spans
    # longer than this raise DataError in length_targets; cap EditDiffusionConfig.max_span to stay below it

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_span < 1:
            raise ConfigError(f"max_span must be ≥ 1, got {self.max_span}", "16 covers Poisson(3) spans")


def _check_ids(ids: Tensor, seq_len: int) -> None:
    if ids.dim() != 2 or ids.dtype != torch.long:
        raise DataError(f"ids must be a LongTensor[B, L], got {ids.dtype} of shape {tuple(ids.shape)}", _IDS_HINT)
    if not 2 <= ids.shape[1] <= seq_len:
        raise DataError(f"sequence length {ids.shape[1]} is outside 2..seq_len = {seq_len}", _IDS_HINT)
    if ids.shape[0] and bool((ids[:, 0] != START_ID).any()):
        raise DataError("every row of ids must start with [START] (slot 0)", _IDS_HINT)


def _slots(ids: Tensor) -> Tensor:
    """``BoolTensor[B, L]``: positions that are slots (START and words; not END or PAD)."""
    return (ids != PAD_ID) & (ids != END_ID)


def _masked_ce(logits: Tensor, targets: Tensor, keep: Tensor) -> Tensor:
    """Mean cross-entropy over positions where ``keep`` holds and the target is not ``IGNORE_INDEX``;
    0 when there is none."""
    keep = keep & (targets != IGNORE_INDEX)
    if not bool(keep.any()):
        return logits[keep].sum()  # an empty sum: 0, still part of the graph
    return F.cross_entropy(logits[keep], targets[keep])


class _EditEncoder(nn.Module):
    """embed(ids) [+ extra] + time(t) → Backbone → ``Tensor[B, L, H]``."""

    def __init__(self, config: EditTaggerConfig) -> None:
        super().__init__()
        self.config = c = config
        self.embedding = nn.Embedding(c.vocab_size, c.hidden)
        self.time = TimestepEmbedding(c.hidden)
        self.backbone = Backbone(c.backbone())

    def _encode(self, ids: Tensor, t: Tensor | float, extra: Tensor | None = None) -> Tensor:
        _check_ids(ids, self.config.seq_len)
        t = torch.as_tensor(t, device=ids.device).reshape(-1)
        t = t.expand(ids.shape[0]) if t.numel() == 1 else t
        if t.shape[0] != ids.shape[0]:
            raise DataError(f"t has {t.shape[0]} entries for a batch of {ids.shape[0]}",
                            "pass one step per row, or one number for the whole batch")
        h = self.embedding(ids) if extra is None else self.embedding(ids) + extra
        return self.backbone(h, self.time(t.float()))


class EditTagger(_EditEncoder, HubMixin):
    """p_tag(e | x_t, t), one of the four :class:`Edit` tags per slot.

    - ``forward(ids: LongTensor[B, L], t: Tensor[B] | float) -> Tensor[B, L, 4]``: logits; DELETE and REPLACE
      are −inf at slot 0 (the START position).
    - ``loss(ids, t, gold_tags: LongTensor[B, L]) -> Tensor[]``: mean cross-entropy over slots (END, PAD and
      ``IGNORE_INDEX`` targets left out).
    - ``tags(ids, t) -> LongTensor[B, L]``: greedy tags; KEEP at END and PAD.
    """

    model_type = "edit-tagger"
    config_class = EditTaggerConfig

    def __init__(self, config: EditTaggerConfig) -> None:
        super().__init__(config)
        self.head = nn.Linear(config.hidden, len(Edit))

    def forward(self, ids: Tensor, t: Tensor | float) -> Tensor:
        logits = self.head(self._encode(ids, t))
        start_only = torch.zeros(len(Edit), dtype=torch.bool, device=ids.device)
        start_only[[int(Edit.DELETE), int(Edit.REPLACE)]] = True  # slot 0 is no token: nothing to delete or replace
        return torch.cat([logits[:, :1].masked_fill(start_only, float("-inf")), logits[:, 1:]], dim=1)

    def loss(self, ids: Tensor, t: Tensor | float, gold_tags: Tensor) -> Tensor:
        return _masked_ce(self(ids, t), gold_tags, _slots(ids))

    @torch.no_grad()
    def tags(self, ids: Tensor, t: Tensor | float) -> Tensor:
        return self(ids, t).argmax(-1).masked_fill(~_slots(ids), int(Edit.KEEP))


class EditGenerator(_EditEncoder, HubMixin):
    """p_gen(x_{t−1} | x_t, e, t) as span lengths, then words at placeholders; one encoder serves both passes.

    - ``length_logits(ids: LongTensor[B, L], tags: LongTensor[B, L], t) -> Tensor[B, L, max_span + 1]``: class
      ``k`` is a span of ``k`` ids. A tag embedding is added to each input position (negative tags, END and PAD
      read as KEEP). REPLACE/INSERT slots exclude 0; every other position allows only 0 (log-prob 0).
    - ``fill_logits(fill_ids: LongTensor[B, L'], t) -> Tensor[B, L', V]``: the word at each position of the
      placeholder sequence; PAD, START, END and MASK are −inf.
    - ``length_loss`` / ``fill_loss`` / ``loss`` (their sum): mean cross-entropies over the REPLACE/INSERT
      slots and over the [MASK] positions.
    - ``lengths(ids, tags, t) -> LongTensor[B, L]`` and ``fill(fill_ids, t) -> LongTensor[B, L']``: greedy.
    """

    model_type = "edit-generator"
    config_class = EditGeneratorConfig

    def __init__(self, config: EditGeneratorConfig) -> None:
        super().__init__(config)
        self.tag_embedding = nn.Embedding(len(Edit), config.hidden)
        self.length_head = nn.Linear(config.hidden, config.max_span + 1)
        self.fill_head = nn.Linear(config.hidden, config.vocab_size)

    @staticmethod
    def _needs_span(ids: Tensor, tags: Tensor) -> Tensor:
        return _slots(ids) & ((tags == Edit.REPLACE) | (tags == Edit.INSERT))

    def length_logits(self, ids: Tensor, tags: Tensor, t: Tensor | float) -> Tensor:
        if tags.shape != ids.shape:
            raise DataError(f"tags {tuple(tags.shape)} and ids {tuple(ids.shape)} differ in shape",
                            "pass one tag per input position (IGNORE_INDEX where there is none)")
        tags = tags.clamp(min=0).masked_fill(~_slots(ids), int(Edit.KEEP))
        logits = self.length_head(self._encode(ids, t, self.tag_embedding(tags)))
        zero = torch.zeros_like(logits, dtype=torch.bool)
        zero[..., 0] = True  # where a span is needed, length 0 is impossible; elsewhere it is the only one
        return logits.masked_fill(zero == self._needs_span(ids, tags)[..., None], float("-inf"))

    def fill_logits(self, fill_ids: Tensor, t: Tensor | float) -> Tensor:
        no_fill = torch.zeros(self.config.vocab_size, dtype=torch.bool, device=fill_ids.device)
        no_fill[list(_NO_FILL)] = True
        return self.fill_head(self._encode(fill_ids, t)).masked_fill(no_fill, float("-inf"))

    def length_loss(self, ids: Tensor, tags: Tensor, t: Tensor | float, lengths: Tensor) -> Tensor:
        return _masked_ce(self.length_logits(ids, tags, t), lengths, self._needs_span(ids, tags))

    def fill_loss(self, fill_ids: Tensor, t: Tensor | float, fill_targets: Tensor) -> Tensor:
        return _masked_ce(self.fill_logits(fill_ids, t), fill_targets, fill_ids == MASK_ID)

    def loss(self, ids: Tensor, tags: Tensor, t: Tensor | float, lengths: Tensor, fill_ids: Tensor,
             fill_targets: Tensor) -> Tensor:
        return self.length_loss(ids, tags, t, lengths) + self.fill_loss(fill_ids, t, fill_targets)

    @torch.no_grad()
    def lengths(self, ids: Tensor, tags: Tensor, t: Tensor | float) -> Tensor:
        return self.length_logits(ids, tags, t).argmax(-1)

    @torch.no_grad()
    def fill(self, fill_ids: Tensor, t: Tensor | float) -> Tensor:
        return torch.where(fill_ids == MASK_ID, self.fill_logits(fill_ids, t).argmax(-1), fill_ids)


# ---------------------------------------------------------------------------------------- training targets
def placeholder_sequence(source: Sequence[int], script: EditScript) -> tuple[list[int], list[int]]:
    """The generator's fill input and targets for word ids ``source`` (no specials) and its script:
    ``ids_with_masks`` is ``apply_edits(source, script)`` with every span id replaced by [MASK];
    ``fill_targets`` (same length) holds the span id at each [MASK] and ``IGNORE_INDEX`` elsewhere."""
    source = [int(i) for i in source]
    if MASK_ID in source:
        raise DataError("the source contains [MASK], which would be mistaken for a placeholder",
                        "pass plain word ids (no specials)")
    masked = EditScript(script.tags, tuple((MASK_ID,) * len(s) for s in script.spans))
    ids = apply_edits(source, masked)
    gold = apply_edits(source, script)
    return ids, [g if i == MASK_ID else IGNORE_INDEX for i, g in zip(ids, gold)]


def length_targets(script: EditScript, max_span: int) -> list[int]:
    """Span lengths per slot (``n + 1``, 0 at KEEP/DELETE): the length pass's targets. Raises ``DataError``
    when a span is longer than ``max_span``."""
    lengths = list(script.span_lengths)
    if max(lengths) > max_span:
        raise DataError(f"a gold span has {max(lengths)} ids, more than the generator's max_span = {max_span}",
                        "raise EditGeneratorConfig.max_span or cap EditDiffusionConfig.max_span")
    return lengths


def encode_batch(rows: Sequence[Sequence[int]], seq_len: int) -> Tensor:
    """``[START] row [END] PAD …`` for each row of word ids: ``LongTensor[B, seq_len]``."""
    out = torch.full((len(rows), seq_len), PAD_ID, dtype=torch.long)
    for b, row in enumerate(rows):
        if len(row) + 2 > seq_len:
            raise DataError(f"row {b} has {len(row)} ids, more than seq_len - 2 = {seq_len - 2}",
                            "use a larger seq_len or drop the example")
        out[b, :len(row) + 2] = torch.tensor([START_ID, *row, END_ID], dtype=torch.long)
    return out


def pad_targets(rows: Sequence[Sequence[int]], seq_len: int, offset: int = 0) -> Tensor:
    """``row[k]`` at position ``offset + k``, ``IGNORE_INDEX`` elsewhere: ``LongTensor[B, seq_len]``. Slot
    targets (tags, lengths) use ``offset = 0`` (slot 0 is START); word targets use ``offset = 1``."""
    out = torch.full((len(rows), seq_len), IGNORE_INDEX, dtype=torch.long)
    for b, row in enumerate(rows):
        if offset + len(row) > seq_len:
            raise DataError(f"row {b} needs {offset + len(row)} positions, more than seq_len = {seq_len}",
                            "use a larger seq_len or drop the example")
        out[b, offset:offset + len(row)] = torch.tensor([int(x) for x in row], dtype=torch.long)
    return out


@dataclass
class EditBatch:
    """Targets for one reverse step of a batch; every tensor is ``LongTensor[B, seq_len]``."""

    ids: Tensor  # x_t: the tagger's and the length pass's input
    tags: Tensor  # gold tags per slot (IGNORE_INDEX at END/PAD)
    lengths: Tensor  # gold span length per slot (IGNORE_INDEX at END/PAD)
    fill_ids: Tensor  # x_{t−1} with spans as [MASK]: the fill pass's input
    fill_targets: Tensor  # gold id at each [MASK], IGNORE_INDEX elsewhere


def make_edit_batch(sources: Sequence[Sequence[int]], scripts: Sequence[EditScript], seq_len: int,
                    max_span: int) -> EditBatch:
    """Pack ``(x_t, reverse script)`` pairs (e.g. from ``EditDiffusion.corrupt_step``) into tensors."""
    if len(sources) != len(scripts):
        raise DataError(f"{len(sources)} sources but {len(scripts)} scripts", "pass one script per source")
    fills = [placeholder_sequence(s, e) for s, e in zip(sources, scripts)]
    return EditBatch(ids=encode_batch(sources, seq_len), tags=pad_targets([e.tags for e in scripts], seq_len),
                     lengths=pad_targets([length_targets(e, max_span) for e in scripts], seq_len),
                     fill_ids=encode_batch([f[0] for f in fills], seq_len),
                     fill_targets=pad_targets([f[1] for f in fills], seq_len, offset=1))
