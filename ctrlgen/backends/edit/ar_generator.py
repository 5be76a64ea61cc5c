"""DiffusER's autoregressive span generator (the paper's design), next to the placeholder one in edit_models.py.

Insertion-style AR on the same encoder-only backbone (:class:`~ctrlgen.backends.edit.models._EditEncoder`): the
input is ``x_t`` with the tags applied, where every REPLACE/INSERT span that is still open reads as *the span's
words written so far followed by one [MASK]* and a finished span reads as its words. All spans of a text advance
in parallel, one word per encoder pass, so a revision costs ``longest span`` passes (the placeholder generator: 2).
A role embedding tells the network which positions are ``x_t`` words, span words written so far, or a [MASK]
(after ≥ 1 span word, or starting a span).

**STOP is folded into the last word.** The output at each [MASK] is a softmax over ``2 V`` classes: ``w`` = "write
``w`` and go on", ``V + w`` = "write ``w`` and STOP" — the exact joint of a word and a STOP class after it, with
the STOP decided in the same pass as the span's last word. A separate STOP class after the last word (one more
[MASK] per span) was the first design, and was dropped before its run finished: at the STOP step every span
holds one position more than its words, so a text of ``n`` words with ``m`` one-word substitutions needs
``n + m`` positions; in a first run of ``recipes/compare_generators.py`` (12 valid.csv references) 2, 4 and 7 of
12 gold revisions at t = 1, 3, 6 did not fit ``seq_len`` = 48. Folded, the input is never longer than the
revised text, as for the placeholders, and a revision takes one pass fewer.

- ``EditARGenerator.forward(ids: LongTensor[B, L], roles: LongTensor[B, L], t: Tensor[B] | float)
  -> Tensor[B, L, 2V]``: logits; PAD, START, END and MASK are −inf in both halves.
- ``generate_spans(ids, tags, t) -> SpanOutput`` (texts, spans per slot, ``log_prob: Tensor[B]``, encoder passes):
  greedy; at ``max_span`` words, or when the text would outgrow ``seq_len``, only the STOP half is allowed (the
  log-prob still counts the full softmax). (No beam: the 2D beam of the edit sampler is built around the
  placeholder generator.)
- ``score_spans(sources, scripts, t) -> (log_prob: Tensor[B], terms: Tensor[B])``: teacher-forced log-likelihood
  of the gold spans in the decoding order (one term per span word, its STOP included).
- :class:`EditARObjective` trains it on the corruption of :class:`EditObjective` (same ``pairs``): per span a
  random prefix length ``k ∈ 0..len − 1`` (target word ``k + 1``, with STOP when it is the last) or, with the odds
  of one ``k``, a finished span (no target), as decoding meets spans that ended earlier; one pass per step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import torch
from torch import Tensor, nn

from ctrlgen.backends.edit.corruption import as_random
from ctrlgen.backends.edit.edits import Edit, EditScript, apply_edits
from ctrlgen.backends.edit.joint import EditObjective, _row_ce, words_of
from ctrlgen.backends.edit.models import (
    END_ID,
    IGNORE_INDEX,
    MASK_ID,
    PAD_ID,
    START_ID,
    EditTaggerConfig,
    _EditEncoder,
    encode_batch,
    pad_targets,
)

_NEVER = (PAD_ID, START_ID, END_ID, MASK_ID)  # never written into a span (UNK is: the data has it)


class Role(IntEnum):
    WORD = 0  # a word of x_t (and START/END/PAD)
    SPAN = 1  # a span word written so far
    NEXT = 2  # [MASK] after ≥ 1 span word
    FIRST = 3  # [MASK] that starts a span


@dataclass
class SpanOutput:
    texts: list[list[int]]  # word ids of each revised text (no specials)
    spans: list[list[list[int]]]  # per row, per slot: the written span (empty at KEEP/DELETE)
    log_prob: Tensor  # Tensor[B]: sum of the chosen (word, STOP?) classes' log-probs
    passes: int  # encoder passes for the batch (its longest span)


@dataclass
class EditARGeneratorConfig(EditTaggerConfig):
    max_span: int = 0  # longest span one slot writes per revision (then it stops); 0 = seq_len − 2

    def __post_init__(self) -> None:
        if self.max_span == 0:
            self.max_span = self.seq_len - 2
        super().__post_init__()


def ar_row(source: Sequence[int], tags: Sequence[int], spans: Sequence[Sequence[int]], open_: Sequence[bool],
           nxt: Sequence[int] | None = None) -> tuple[list[int], list[int], list[int]]:
    """``(ids, roles, targets)`` of one text (word ids, no specials): ``source`` with ``tags`` applied, slot ``i``
    writing ``spans[i]`` (+ one [MASK] if ``open_[i]``). ``targets`` holds ``nxt[i]`` at slot ``i``'s [MASK] (when
    given) and ``IGNORE_INDEX`` elsewhere; the [MASK]s appear in slot order."""
    n = len(source)
    mk = lambda vals, tail: EditScript(tuple(tags), tuple(tuple(v) + ((tail(i),) if o else ())
                                                          for i, (v, o) in enumerate(zip(vals, open_))))
    ids = apply_edits(source, mk(spans, lambda i: MASK_ID))
    roles = apply_edits([Role.WORD] * n, mk([[Role.SPAN] * len(s) for s in spans],
                                             lambda i: Role.NEXT if spans[i] else Role.FIRST))
    tgt = apply_edits([IGNORE_INDEX] * n, mk([[IGNORE_INDEX] * len(s) for s in spans],
                                             lambda i: IGNORE_INDEX if nxt is None else nxt[i]))
    return ids, roles, tgt


class EditARGenerator(_EditEncoder):
    """p_gen(spans | x_t, tags, t), one span word per slot per pass (module docstring)."""

    model_type = "edit-ar-generator"
    config_class = EditARGeneratorConfig

    def __init__(self, config: EditARGeneratorConfig) -> None:
        super().__init__(config)
        self.role_embedding = nn.Embedding(len(Role), config.hidden)
        self.head = nn.Linear(config.hidden, 2 * config.vocab_size)  # (word, go on) | (word, STOP)

    def forward(self, ids: Tensor, roles: Tensor, t: Tensor | float) -> Tensor:
        never = torch.zeros(2, self.config.vocab_size, dtype=torch.bool, device=ids.device)
        never[:, list(_NEVER)] = True
        return self.head(self._encode(ids, t, self.role_embedding(roles))).masked_fill(never.reshape(-1), float("-inf"))

    def _batch(self, rows: list[tuple[list[int], list[int], list[int]]]) -> tuple[Tensor, Tensor, Tensor]:
        L, dev = self.config.seq_len, self.head.weight.device
        roles = pad_targets([r[1] for r in rows], L, offset=1).clamp(min=0)
        return (encode_batch([r[0] for r in rows], L).to(dev), roles.to(dev),
                pad_targets([r[2] for r in rows], L, offset=1).to(dev))

    @torch.no_grad()
    def generate_spans(self, ids: Tensor, tags: Tensor, t: Tensor | float) -> SpanOutput:
        """Greedy spans at the REPLACE/INSERT slots of ``tags: LongTensor[B, L]`` (slot layout of ``ids``)."""
        sources = [words_of(r) for r in ids]
        tg = [[int(x) for x in tags[b, :len(s) + 1].clamp(min=0)] for b, s in enumerate(sources)]
        tt = torch.as_tensor(t, dtype=torch.float32).reshape(-1).expand(len(sources))
        spans = [[[] for _ in g] for g in tg]
        open_ = [[x in (Edit.REPLACE, Edit.INSERT) for x in g] for g in tg]
        logp, passes, room, V = torch.zeros(len(sources)), 0, self.config.seq_len - 2, self.config.vocab_size
        while active := [b for b in range(len(sources)) if any(open_[b])]:
            rows = [ar_row(sources[b], tg[b], spans[b], open_[b]) for b in active]
            x, r, _ = self._batch(rows)
            lp = self(x, r, tt[active].to(x.device)).log_softmax(-1).cpu()
            passes += 1
            for j, b in enumerate(active):
                pos = [p + 1 for p, i in enumerate(rows[j][0]) if i == MASK_ID]  # +1: START
                n = len(rows[j][0])  # words + [MASK]s now; each span that goes on adds one
                for slot, p in zip([i for i, o in enumerate(open_[b]) if o], pos):
                    full = len(spans[b][slot]) + 1 >= self.config.max_span or n + 1 > room
                    c = int(lp[j, p, V:].argmax()) + V if full else int(lp[j, p].argmax())
                    logp[b] += lp[j, p, c]
                    spans[b][slot].append(c % V)
                    if c >= V:
                        open_[b][slot] = False
                    else:
                        n += 1
        texts = [apply_edits(s, EditScript(tuple(g), tuple(map(tuple, sp)))) for s, g, sp in zip(sources, tg, spans)]
        return SpanOutput(texts, spans, logp, passes)

    @torch.no_grad()
    def score_spans(self, sources: Sequence[Sequence[int]], scripts: Sequence[EditScript],
                    t: Tensor | float) -> tuple[Tensor, Tensor]:
        """Teacher-forced ``log p(spans)`` (``Tensor[B]``) and its number of terms (span words) per row, in the
        decoding order (pass ``k`` writes word ``k + 1`` of every span longer than ``k``, STOP on its last)."""
        tt = torch.as_tensor(t, dtype=torch.float32).reshape(-1).expand(len(sources))
        total, count, V = torch.zeros(len(sources)), torch.zeros(len(sources)), self.config.vocab_size
        for k in range(max((len(s) for e in scripts for s in e.spans), default=0)):
            rows, which = [], []
            for b, e in enumerate(scripts):
                opn = [len(s) > k for s in e.spans]
                if any(opn):
                    nxt = [s[k] + V * (len(s) == k + 1) if len(s) > k else IGNORE_INDEX for s in e.spans]
                    rows.append(ar_row(sources[b], e.tags, [s[:k] for s in e.spans], opn, nxt))
                    which.append(b)
            x, r, y = self._batch(rows)
            lp = self(x, r, tt[which].to(x.device)).log_softmax(-1)
            keep = y != IGNORE_INDEX
            term = lp.gather(-1, y.clamp(min=0)[..., None])[..., 0].masked_fill(~keep, 0.0)
            total[which] += term.sum(1).cpu()
            count[which] += keep.sum(1).float().cpu()
        return total, count


class EditARObjective(EditObjective):
    """``forward(batch: LongTensor[B, L], generator) -> {"loss": Tensor[B], "t"}``: the AR generator's cross-entropy
    per row (mean over its [MASK]s; 0 for rows without a span), on :meth:`EditObjective.pairs`."""

    def forward(self, batch: Tensor, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        xs, scripts, ts = self.pairs(batch, generator)
        r, V = as_random(generator), self.model.config.vocab_size
        rows = []
        for x, e in zip(xs, scripts):
            live = [i for i, s in enumerate(e.spans) if s]
            ks = {i: r.randint(0, len(e.spans[i])) for i in live}  # len: a finished span
            if live and all(ks[i] == len(e.spans[i]) for i in live):
                i = r.choice(live)
                ks[i] = r.randint(0, len(e.spans[i]) - 1)
            open_ = [bool(s) and ks[i] < len(s) for i, s in enumerate(e.spans)]
            nxt = [s[ks[i]] + V * (ks[i] == len(s) - 1) if o else IGNORE_INDEX
                   for i, (s, o) in enumerate(zip(e.spans, open_))]
            rows.append(ar_row(x, e.tags, [s[:ks[i]] if o else s for i, (s, o) in enumerate(zip(e.spans, open_))],
                               open_, nxt))
        ids, roles, targets = self.model._batch(rows)
        t = torch.tensor(ts, dtype=torch.float32, device=ids.device)
        loss = _row_ce(self.model(ids, roles, t), targets, ids == MASK_ID)
        return {"loss": loss, "t": t}
