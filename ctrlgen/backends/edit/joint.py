"""One module, one checkpoint for DiffusER: :class:`EditModel` holds the tagger and the generator, and
:class:`EditObjective` trains both on edit corruptions drawn on the fly.

**Why one module.** DiffusER trains two networks, but they are only ever used together, share the
vocabulary, ``seq_len`` and the corruption, and are trained on the same corrupted pairs. Wrapping them
into one ``nn.Module`` gives one ``config.json`` / ``model.safetensors`` / ``tokenizer.json`` (so
``ctrlgen.load`` finds the edit backend from one ``model_type``), one EMA and one exact resume in the
shared trainer. ``EditModel.tagger`` and ``EditModel.generator`` are plain :class:`EditTagger` /
:class:`EditGenerator` modules (separate weights, as in the paper) and can be used on their own.

**Training data** (:class:`EditObjective`). Each training row is a clean reference ``x_0`` (the trainer's
``[START] w… [END] PAD…`` rows). Per row, a step ``t ~ U{1..T}`` is drawn, ``t`` corruption steps of
:class:`~ctrlgen.backends.edit.corruption.EditDiffusion` give ``x_{t−1}`` and ``x_t`` with the gold reverse script,
and the loss is the tagger's cross-entropy on the gold tags plus the generator's on the gold span lengths
and the gold words (:func:`make_edit_batch`), per row. Two extra kinds of rows (see
:class:`EditTrainingConfig`) teach what decoding needs beyond the paper's process: ``p_clean`` rows are
clean (``x_t = x_{t−1} = x_0``, every tag KEEP) at a random ``t``, so that a fluent source text or draft is
left alone and the revision loop stops; ``p_empty`` rows start from the empty text at ``t = T`` and insert
all of ``x_0`` at slot 0, so that decoding can start from nothing. A corruption that would outgrow the
model (``seq_len − 2`` words) stops at the last state that fits.

**Targets: x_{t−1} or x_0** (``EditTrainingConfig.target``). DiffusER trains each row to undo the *last*
corruption step (``"previous"``). With the paper's edit rates (40% of decision points edited per step, Poisson(3)
spans) x_{t−1} is itself mostly random words for t ≥ 3, so the generator's targets there are noise: on E2E the
training loss of a 4 × 128 run stalled at ≈ 6.1 nats after 1,000 of 4,000 steps (fill cross-entropy ≈ 4.8, near
the ln 560 ≈ 6.3 of uniform words), and only the t = 1 and clean rows carried signal. ``"x0"`` trains every row to
reach x_0 directly, with the minimal alignment of x_t to x_0 (:func:`~ctrlgen.backends.edit.edits.align`) as its
script — the edit analogue of x_0-prediction. Decoding is unchanged: each revision's output is the next state.
The bundled ``e2e-edit`` uses ``"x0"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ctrlgen.backends.edit.corruption import (
    EditDiffusion,
    EditDiffusionConfig,
    as_random,
)
from ctrlgen.backends.edit.edits import Edit, EditScript, align
from ctrlgen.backends.edit.models import (
    END_ID,
    IGNORE_INDEX,
    MASK_ID,
    PAD_ID,
    START_ID,
    EditGenerator,
    EditGeneratorConfig,
    EditTagger,
    EditTaggerConfig,
    make_edit_batch,
)
from ctrlgen.errors import ConfigError
from ctrlgen.models.hub import HubMixin


@dataclass
class EditModelConfig(EditGeneratorConfig):
    """The tagger's and the generator's shared config (both get the same size). ``max_span`` defaults to
    ``seq_len − 2`` when 0: one slot may then write a whole text (needed to start from the empty text)."""

    max_span: int = 0  # longest span one slot writes per revision; 0 = seq_len − 2

    def __post_init__(self) -> None:
        if self.max_span == 0:
            self.max_span = self.seq_len - 2
        super().__post_init__()


class EditModel(nn.Module, HubMixin):
    """``tagger: EditTagger`` + ``generator: EditGenerator``, saved and loaded as one checkpoint."""

    model_type = "edit-diffuser"
    config_class = EditModelConfig

    def __init__(self, config: EditModelConfig) -> None:
        super().__init__()
        self.config = config
        fields = {k: getattr(config, k) for k in ("vocab_size", "seq_len", "hidden", "layers", "heads", "dropout",
                                                  "attention")}
        self.tagger = EditTagger(EditTaggerConfig(**fields))
        self.generator = EditGenerator(EditGeneratorConfig(**fields, max_span=config.max_span))


@dataclass
class EditTrainingConfig(EditDiffusionConfig):
    """The corruption (:class:`EditDiffusionConfig`: the ``[diffusion]`` table) plus the training mixture."""

    target: Literal["previous", "x0"] = "previous"  # what a row learns to reach from x_t: DiffusER's x_{t−1}
    # (the reverse of the last corruption step) or x_0 (the minimal alignment x_t → x_0; see the module docstring)
    p_clean: float = 0.1  # share of rows that are clean text with all-KEEP targets (a fixed point to stop at)
    p_empty: float = 0.05  # share of rows that start from the empty text at t = T and insert all of x_0

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("p_clean", "p_empty"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ConfigError(f"{name} must be in [0, 1], got {v}", "e.g. p_clean = 0.1, p_empty = 0.05")
        if self.p_clean + self.p_empty > 1:
            raise ConfigError(f"p_clean + p_empty must be ≤ 1, got {self.p_clean + self.p_empty}",
                              "the rest of the rows are ordinary corruptions")


def words_of(row: Tensor | list[int]) -> list[int]:
    """Word ids of one ``[START] w… [END] PAD…`` row (everything before the first END, specials dropped)."""
    out = []
    for i in (row.tolist() if isinstance(row, Tensor) else row):
        if i in (END_ID, PAD_ID):
            break
        if i != START_ID:
            out.append(int(i))
    return out


def _row_ce(logits: Tensor, targets: Tensor, keep: Tensor) -> Tensor:
    """Per-row mean cross-entropy over positions where ``keep`` holds and a target exists: ``Tensor[B]``
    (0 for a row without any)."""
    keep = keep & (targets != IGNORE_INDEX)
    safe = targets.clamp(min=0)
    ce = F.cross_entropy(logits.float().transpose(1, 2), safe, reduction="none")
    ce = torch.where(keep, ce, torch.zeros_like(ce))  # -inf logits at masked positions must not leak NaN
    return ce.sum(1) / keep.sum(1).clamp(min=1)


class EditObjective(nn.Module):
    """``forward(batch: LongTensor[B, L], generator) -> {"loss": Tensor[B], "tag", "length", "fill", "t"}``.

    ``loss`` = tag CE + length CE + fill CE of each row (means over its slots / span slots / placeholders).
    All random draws come from ``generator`` (one 62-bit draw seeds a ``random.Random`` for the rows), so a
    training step is a function of the trainer's seed and step."""

    def __init__(self, model: EditModel, config: EditTrainingConfig) -> None:
        super().__init__()
        self.model, self.config = model, config
        self.process = EditDiffusion(config, model.config.vocab_size)

    def pairs(self, batch: Tensor, generator: torch.Generator | None) -> tuple[list[list[int]], list[EditScript],
                                                                                  list[int]]:
        """``(x_t rows, reverse scripts, t per row)`` for a batch of clean rows."""
        r = as_random(generator)
        c, T, limit = self.config, self.config.steps, self.model.config.seq_len - 2
        xs, scripts, ts = [], [], []
        for row in batch:
            x0 = words_of(row)
            u = r.random()
            if u < c.p_empty:  # from nothing: insert all of x_0 at slot 0
                x_t, t = [], T
                script = EditScript((Edit.INSERT,), (tuple(x0),)) if x0 else EditScript.keep_all(0)
            elif u < c.p_empty + c.p_clean:  # clean text is a fixed point: keep everything
                x_t, script, t = x0, EditScript.keep_all(len(x0)), r.randint(1, T)
            else:
                x_t, script, reached = x0, EditScript.keep_all(len(x0)), 0
                for k in range(r.randint(1, T)):
                    nxt, rev = self.process.corrupt_step(x_t, r)
                    if len(nxt) > limit:  # stop at the last state that fits the model
                        break
                    x_t, script, reached = nxt, rev, k + 1
                t = max(1, reached)
                if c.target == "x0":
                    script = align(x_t, x0)
            xs.append(x_t)
            scripts.append(script)
            ts.append(t)
        return xs, scripts, ts

    def forward(self, batch: Tensor, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        m = self.model
        xs, scripts, ts = self.pairs(batch, generator)
        b = make_edit_batch(xs, scripts, m.config.seq_len, m.config.max_span)
        dev = batch.device
        ids, tags, lengths, fill_ids, fill_targets = (x.to(dev) for x in (b.ids, b.tags, b.lengths, b.fill_ids,
                                                                          b.fill_targets))
        t = torch.tensor(ts, dtype=torch.float32, device=dev)
        slots = (ids != PAD_ID) & (ids != END_ID)
        tag_loss = _row_ce(m.tagger(ids, t), tags, slots)
        needs = m.generator._needs_span(ids, tags)
        len_loss = _row_ce(m.generator.length_logits(ids, tags, t), lengths, needs)
        fill_loss = _row_ce(m.generator.fill_logits(fill_ids, t), fill_targets, fill_ids == MASK_ID)
        return {"loss": tag_loss + len_loss + fill_loss, "tag": tag_loss.detach(), "length": len_loss.detach(),
                "fill": fill_loss.detach(), "t": t}
