"""The edit backend (DiffusER): revise a text toward constraints with few changes.

```python
import ctrlgen
from ctrlgen import Length

gen = ctrlgen.load("e2e-edit")
out = gen.edit("The Vaults is a cheap pub near Café Adriatic .", constraints=Length(8))
out.texts[0], out.report["edits"][0], out.report["satisfied"]
gen.generate(n=4, constraints="length=12")          # AR drafts revised toward the constraints
gen.infill("The Vaults is a [MASK:2] pub near [MASK:2] .", n=2)
```

How the constraint language acts here (faces the ``edit`` backend uses: hard and check):

- **hard faces** — fixed words are written at their positions and *protected* (tag forced to KEEP); every
  position up to the last fixed one keeps its place; ``Infill`` holes start as [MASK] placeholders filled left
  to right by the generator; a length (``Length``, ``Infill``, ``Suffix``) *steers* insertions and deletions:
  a text above the length may only delete, below it only insert, at it only replace word for word.
- **check faces** — the weighted score of every checkable constraint ranks the candidates of the 2D beam
  (``EditSampler.rank_weight``) and, while a kept text scores below 1, drives check-guided proposals (see
  :mod:`ctrlgen.backends.edit.sampler`). A constraint with neither face (e.g. one with only a soft face) is refused by
  ``prepare`` with a hint naming the backends that can use it.
- **per-word labels** — a constraint that names one label per word (:class:`~ctrlgen.constraints.WordLabelled`:
  ``POS``, ``SyntaxTree`` via its preterminals) gets drafts written under its label lexicon and *pattern
  proposals* that align the text's labels to the target's and refill the mismatched words
  (:mod:`.edit_pattern`, :mod:`.edit_guides`); the local-edit proposals are then skipped unless another
  check-only constraint needs them.
- A constraint the revisions cannot reach is reported **unsatisfied** with the best attempt
  (``report["satisfied"]``); nothing is claimed that the check face did not confirm.

Bootstraps (``generate(bootstrap=...)``): ``"draft"`` (default) — the bundled AR draft model
(``e2e-ar-draft``, trained on the same data as the teacher LM ``e2e-teacher-1`` but with its own seed and
name) writes ``drafts`` (32) drafts per sample, never [UNK], and the one that best meets the constraints is
revised;
``"empty"`` — start from nothing at ``t = T``; ``"random"`` — random words at ``t = T``. ``edit`` starts from
the given text (DiffusER's source bootstrap) at ``t_start``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import torch

from ctrlgen.backends.edit.guides import EditGuides, local_leaves
from ctrlgen.backends.edit.joint import EditModel
from ctrlgen.backends.edit.models import MASK_ID, encode_batch
from ctrlgen.backends.edit.sampler import EditSampler
from ctrlgen.backends.edit.start import describe, draft_starts, fill_masks, layout_of, output_words, project
from ctrlgen.constraints.composition import ConstraintLike, PreparedConstraint, prepare
from ctrlgen.constraints.infill import Infill
from ctrlgen.core.contract import Generator
from ctrlgen.core.mbr import order_by_mbr
from ctrlgen.core.output import GenerationOutput
from ctrlgen.errors import SamplingError
from ctrlgen.models.assets import resolve_model_path
from ctrlgen.models.pretrained import load_pretrained
from ctrlgen.oracles.fluency import well_formed
from ctrlgen.text.tokenizer import split_words
from ctrlgen.text.vocab import SPECIALS

DRAFTS, PATTERN_DRAFTS = 32, 128  # AR drafts per sample; under a per-word label constraint (see generate)
DRAFT_TOP_P = 0.9  # nucleus of drafts written under a label lexicon (see .edit_guides; recipes/sweep_edit_pattern.py)
DEFAULT_SAMPLER = EditSampler(decoding="beam", beam=(3, 3))  # 2D beam; see recipes/results/bench_edit.json


class DiffusERGenerator(EditGuides, Generator):
    """A loaded edit model (tagger + generator); stateless between calls (caches: see :class:`EditGuides`)."""

    backend = "edit"  # the name of this backend (``ctrlgen generate --backend``)

    def __init__(self, model: EditModel, tokenizer: Any, steps: int = 12, draft_model: str | None = None,
                 path: Path | None = None) -> None:
        self.model, self.tokenizer, self.T, self.path = model, tokenizer, steps, path
        self.draft_model = draft_model
        self._init_guides()

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike = "e2e-edit",
                        draft_model: str | None = None) -> DiffusERGenerator:
        """Load a checkpoint; ``draft_model`` (a bundled name or directory) overrides the checkpoint's
        ``bootstrap.draft_model`` for the ``"draft"`` bootstrap."""
        path = resolve_model_path(name_or_path)
        model, tok, cfg = load_pretrained(path, EditModel)
        draft = draft_model or cfg.get("bootstrap", {}).get("draft_model")
        return cls(model, tok, int(cfg.get("diffusion", {}).get("steps", 12)), draft, path)

    # ------------------------------------------------------------------------------------------- helpers
    @property
    def limit(self) -> int:
        return self.model.config.seq_len - 2

    def prepare(self, constraints: ConstraintLike) -> PreparedConstraint | None:
        """Compile constraints for this model (vocabulary, ``seq_len``, the edit backend)."""
        if constraints is None or constraints == []:
            return None
        return prepare(constraints, self.tokenizer, self.model.config.seq_len, "edit")

    # ------------------------------------------------------------------------------------------ the run
    def _run(self, starts: list[list[int]], sources: list[tuple[list[str], list[int]]], prepared: PreparedConstraint | None,
             t_start: float, seed: int | None, sampler: EditSampler | None, batch_size: int, progress: bool,
             return_trajectory: bool, keep: int = 1, protect: Collection[int] = ()) -> GenerationOutput:
        fixed, layout = layout_of(prepared.hard if prepared else None, self.tokenizer.vocab)
        sampler = sampler or DEFAULT_SAMPLER
        gen = torch.Generator().manual_seed(seed if seed is not None else int(torch.seed() % 2 ** 62))
        t0 = time.perf_counter()
        rank, phrases, fluency = self._rank(prepared), self.phrases(prepared), self.fluency()
        propose = self.proposer(prepared)
        if propose is not None and not local_leaves(prepared):  # type: ignore[arg-type]
            sampler = replace(sampler, explore=False)  # label patterns are all there is to explore
        protected = sorted(set(fixed) | set(protect))
        ts = [float(t) for t in range(max(1, round(t_start)), 0, -1)]  # t_start, …, 1, then 1 again
        ids, traj, steps = [], [], []
        for lo in range(0, len(starts), batch_size):
            chunk = starts[lo:lo + batch_size]
            out = sampler.sample(self.model.tagger, self.model.generator, chunk, ts, gen, [protected] * len(chunk), rank,
                                 return_trajectory, progress, layout, phrases, fluency, propose)
            ids += [b[:keep] for b in out.beams] if keep > 1 else [[x] for x in out.ids]
            traj += [[(r.t, r.ids[j]) for r in out.trajectory] for j in range(len(chunk))]
            steps += out.steps
        rows = [r for b in ids for r in b]
        src = [s for s, b in zip(sources, ids) for _ in b]
        words = [output_words(w, i, r, self.tokenizer.vocab) for (w, i), r in zip(src, rows)]
        texts = [self.tokenizer.detokenize(w) for w in words]
        tokens = encode_batch(rows, self.model.config.seq_len)
        report: dict[str, Any] = {
            "well_formed": well_formed(tokens, self.tokenizer.vocab).tolist(), "seconds": time.perf_counter() - t0,
            "seed": seed, "steps": [s for s, b in zip(steps, ids) for _ in b],
            "edits": [describe(w, i, r, self.tokenizer.vocab) for (w, i), r in zip(src, rows)],
            "start": [self.tokenizer.detokenize(w) for w, _ in src]}
        if prepared is not None:
            report["constraints"] = {repr(r.constraint): {"satisfied": r.satisfied, "scores": r.scores}
                                     for r in prepared.check(texts)}
            report["satisfied"] = prepared.satisfied(texts)
        trajectory = None
        if return_trajectory:
            width = max((len(t) for t in traj), default=0)
            trajectory = [[self.tokenizer.detokenize([self.tokenizer.vocab.word(i) for i in (t[k][1] if k < len(t) else t[-1][1])])
                           for t in traj] for k in range(width)]
        return GenerationOutput(texts=texts, tokens=tokens, report=report, trajectory=trajectory)

    def _starts(self, rows: list[list[int]], prepared: PreparedConstraint | None, k: int = 1) -> list[list[int]]:
        """Each row projected onto the hard faces' layout, its placeholders filled left to right: the ``k`` best
        of ``4k`` (at least 8) beam fills by the fluency term when there is one (else by the fill log-prob)."""
        fixed, layout = layout_of(prepared.hard if prepared else None, self.tokenizer.vocab)
        projected = [project(r, fixed, layout) for r in rows]
        wide = max(8, 4 * k) if any(MASK_ID in r for r in projected) else 1
        filled = fill_masks(self.model.tagger, self.model.generator, projected, 1.0, wide)
        fluency = self.fluency() if wide > 1 else None
        out = []
        for options in filled:
            if fluency is not None:
                scores = fluency(options)
                options = [o for _, o in sorted(zip(scores, options), key=lambda p: -p[0])]
            out += [options[min(j, len(options) - 1)] for j in range(k)]
        return out

    # ------------------------------------------------------------------------------------------- the API
    def generate(self, n: int = 8, steps: int | None = None, seed: int | None = 0, constraints: ConstraintLike = None,
                 batch_size: int = 64, progress: bool = False, sampler: EditSampler | None = None,
                 bootstrap: Literal["draft", "empty", "random"] = "draft", drafts: int | None = None,
                 t_start: float = 2.0, return_trajectory: bool = False) -> GenerationOutput:
        """``n`` texts: bootstraps (see the module docstring) revised toward ``constraints``. ``steps`` caps the
        revisions (default: the sampler's ``max_steps``); ``drafts`` AR drafts per sample (default 32; 128 under a
        per-word label constraint such as ``POS``, whose drafts are written under its lexicon) are ranked by the
        check face before revision; ``t_start`` is the first step index of a draft's revision. Same ``seed`` →
        same texts."""
        _check_n(n, batch_size)
        sampler = _with_steps(sampler, steps)
        prepared = self.prepare(constraints)
        gen = torch.Generator().manual_seed(seed if seed is not None else int(torch.seed() % 2 ** 62))
        if bootstrap == "draft":
            propose = self.proposer(prepared)
            if drafts is None:
                drafts = DRAFTS if propose is None else PATTERN_DRAFTS
            if isinstance(drafts, bool) or not isinstance(drafts, int) or drafts < 1:
                raise SamplingError(f"drafts must be an int ≥ 1, got {drafts!r}", "e.g. drafts=32")
            mask = propose.draft_mask(self.draft().config.seq_len) if propose is not None else None
            rows, _ = draft_starts(self.draft(), n, drafts, gen, self._draft_rank(prepared), self.limit, mask,
                                   DRAFT_TOP_P if mask is not None else 1.0)
        elif bootstrap == "empty":
            rows, t_start = [[] for _ in range(n)], float(self.T)
        elif bootstrap == "random":
            lens = torch.randint(min(8, self.limit), min(25, self.limit + 1), (n,), generator=gen).tolist()  # words, never a special id
            rows = [torch.randint(len(SPECIALS), len(self.tokenizer), (m,), generator=gen).tolist() for m in lens]
            t_start = float(self.T)
        else:
            raise SamplingError(f"unknown bootstrap {bootstrap!r}", "choose 'draft', 'empty' or 'random'")
        starts = self._starts(rows, prepared)
        sources = [([self.tokenizer.vocab.word(i) for i in r], r) for r in starts]
        out = self._run(starts, sources, prepared, t_start, seed, sampler, batch_size, progress, return_trajectory)
        out.report["bootstrap"] = bootstrap
        return out

    def infill(self, template: str, n: int = 4, steps: int | None = None, seed: int | None = 0,
               constraints: ConstraintLike = None, **kw: Any) -> GenerationOutput:
        """Fill the holes of ``template`` (``"The Vaults is a [MASK:3] pub near [MASK] ."``): the ``n`` best
        left-to-right fills of the holes, each revised with the template's words protected and in place, ordered
        by minimum Bayes risk (``report["mbr"]``; ``texts[0]`` is the MBR choice)."""
        _check_n(n, kw.get("batch_size", 64))
        c = Infill(template) if constraints is None else Infill(template) & constraints
        prepared = self.prepare(c)
        starts = self._starts([[]], prepared, k=n)
        sources = [([self.tokenizer.vocab.word(i) for i in r], r) for r in starts]
        kw.setdefault("t_start", 1.0)
        out = self._run(starts, sources, prepared, kw.pop("t_start"), seed, _with_steps(kw.pop("sampler", None), steps),
                        kw.pop("batch_size", 64), kw.pop("progress", False), kw.pop("return_trajectory", False))
        if kw:
            raise SamplingError(f"unknown arguments {sorted(kw)}", "see DiffusERGenerator.infill")
        return order_by_mbr(out, ("edits", "steps", "start"))

    def edit(self, text: str, constraints: ConstraintLike = None, n: int = 1, seed: int | None = 0,
             sampler: EditSampler | None = None, steps: int | None = None, protect: Collection[int] = (),
             t_start: float = 1.0, progress: bool = False, return_trajectory: bool = False) -> GenerationOutput:
        """Revise ``text`` toward ``constraints`` with few changes: the ``n`` best distinct results of the beam,
        best first (``n`` > r widens the beam to ``n``). ``protect``: 1-based word positions never changed.
        ``report["edits"]`` lists the operations from ``text`` to each result."""
        if not isinstance(text, str) or not split_words(text):
            raise SamplingError("the text to edit is empty",
                                "pass a sentence; to write from nothing use generate(bootstrap='empty')")
        words = split_words(text)
        if len(words) > self.limit:
            raise SamplingError(f"the text has {len(words)} words, more than this model's {self.limit}",
                                "shorten it, or use a model with a longer seq_len")
        _check_n(n, 64)
        bad = [p for p in protect if isinstance(p, bool) or not isinstance(p, int) or not 1 <= p <= len(words)]
        if bad:
            raise SamplingError(f"protect positions {bad} are outside 1..{len(words)}", "word k is position k (1-based)")
        sampler = _with_steps(sampler, steps) or DEFAULT_SAMPLER
        if sampler.beam[0] < n:
            sampler = replace(sampler, beam=(n, sampler.beam[1]))
        prepared = self.prepare(constraints)
        ids = self.tokenizer.vocab.ids(words)
        start = self._starts([ids], prepared)
        src_words = words if start[0] == ids else [self.tokenizer.vocab.word(i) for i in start[0]]
        return self._run(start, [(src_words, start[0])], prepared, t_start, seed, sampler, 1, progress,
                         return_trajectory, keep=n, protect=protect)


def _check_n(n: object, batch_size: object) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise SamplingError(f"n must be a positive integer, got {n!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise SamplingError(f"batch_size must be > 0, got {batch_size!r}")


def _with_steps(sampler: EditSampler | None, steps: int | None) -> EditSampler | None:
    if steps is None:
        return sampler
    return replace(sampler or DEFAULT_SAMPLER, max_steps=steps)
