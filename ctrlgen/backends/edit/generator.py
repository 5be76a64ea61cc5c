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
  (``guidance_scale`` · ``EditSampler.rank_weight`` · :func:`~.guides.leaf_scale`: each of several leaves — the
  fields of a whole MR — counts as much as a lone constraint) and, while a kept text scores below 1, drives check-guided
  proposals (see :mod:`ctrlgen.backends.edit.sampler`). A constraint with neither face (e.g. one with only a soft
  face) is refused by ``prepare`` with a hint naming the backends that can use it.
- **per-word labels** — a constraint that names one label per word (:class:`~ctrlgen.constraints.WordLabelled`:
  ``POS``, ``SyntaxTree`` via its preterminals) gets drafts written under its label lexicon and *pattern
  proposals* that align the text's labels to the target's and refill the mismatched words
  (:mod:`.pattern`, :mod:`.guides`); the local-edit proposals are then skipped unless another check-only
  constraint needs them. Beside such a leaf the ranking has two stages (issue 14): the local-edit proposals and the
  AR drafts are first judged by the other check-only leaves alone (``SemanticField``: a slot check; drafts: plus
  fluency), and the tagger or parser labels only what that stage keeps (``recipes/edit_structure.py``).
- **distinct, fluent samples** (``generate(diversity=0.0)``): each sample returns its first kept text that no
  earlier sample returned and that scores within ``diversity`` of its best on the checks (0: distinctness never
  costs the constraint); under a per-word label leaf, by check score, then draft fluency (:mod:`.choose`).
- A constraint the revisions cannot reach is reported **unsatisfied** with the best attempt
  (``report["satisfied"]``); nothing is claimed that the check face did not confirm.

Bootstraps (``generate(bootstrap=...)``): ``"draft"`` (default) — the bundled AR draft model
(``e2e-ar-draft``, trained on the same data as the teacher LM ``e2e-teacher-1`` but with its own seed and
name) writes ``drafts`` (32 per checked leaf, at most 128) drafts per sample, never [UNK], and the one that best
meets the constraints is revised (``Contains`` phrases and ``name`` / ``near`` values placed in it first, inserted or
in place of a few of its words: :mod:`.placing`); ``"empty"`` — start from nothing at ``t = T``;
``"random"`` — random words at ``t = T``. ``edit`` starts from the given text (DiffusER's source bootstrap) at ``t_start``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import torch

from ctrlgen.backends.edit.choose import DIVERSITY, check_diversity, choose
from ctrlgen.backends.edit.guides import EditGuides, explore_budget, leaf_scale, local_leaves
from ctrlgen.backends.edit.joint import EditModel, EditTrainingConfig
from ctrlgen.backends.edit.models import encode_batch
from ctrlgen.backends.edit.placing import start_rows
from ctrlgen.backends.edit.sampler import EditSampler
from ctrlgen.backends.edit.start import (
    SourceSpelling,
    describe,
    draft_starts,
    layout_of,
    unknown_words,
)
from ctrlgen.constraints.composition import ConstraintLike, PreparedConstraint, prepare
from ctrlgen.constraints.infill import Infill
from ctrlgen.core.contract import Generator, OnBatch, merge_batches
from ctrlgen.core.mbr import order_by_mbr
from ctrlgen.core.options import Options
from ctrlgen.core.output import GenerationOutput, build_output
from ctrlgen.errors import SamplingError
from ctrlgen.models.assets import resolve_model_path
from ctrlgen.models.pretrained import config_section, load_pretrained, save_pretrained
from ctrlgen.text.tokenizer import split_words
from ctrlgen.text.vocab import SPECIALS

DRAFTS, PATTERN_DRAFTS = 32, 128  # AR drafts per sample; under a per-word label constraint (see generate)
DRAFT_LEAVES = 4  # drafts per sample: DRAFTS × min(DRAFT_LEAVES, checked leaves): an MR gets 128 (recipes/mr_describe.py)
DRAFT_TOP_P = 0.9  # nucleus of drafts written under a label lexicon (see .guides; recipes/sweep_edit_pattern.py)
DEFAULT_SAMPLER = EditSampler(decoding="beam", beam=(3, 3))  # 2D beam; see recipes/results/bench_edit.json
PROBE_BATCH = 8  # rows in the forward that budget() times
DRAFT_DIR = "draft"  # save_pretrained writes the AR draft LM here, inside the checkpoint


class DiffusERGenerator(EditGuides, Generator):
    """A loaded edit model (tagger + generator); stateless between calls (caches: see :class:`EditGuides`).

    **Options** (``n``, ``steps``, ``seed``, ``batch_size``, ``guidance_scale``, ``progress``, ``return_trajectory``,
    ``device``, ``dtype``) are validated once by :meth:`options` (:class:`~ctrlgen.core.options.Options`).

    - ``steps`` = the number of revisions at most (a sample also stops when a revision changes nothing). One rule
      in ``generate``, ``infill`` and ``edit``: an explicit ``steps`` wins, else the passed ``sampler``'s
      ``max_steps``, else the backend's ``default_steps`` (12). ``report["steps"]`` counts the revisions run.
    - ``guidance_scale`` = the weight of the constraints' check scores in the beam ranking relative to fluency:
      a candidate scores ``log-prob + guidance_scale · rank_weight · check + fluency_weight · fluency``
      (``EditSampler``: ``rank_weight`` 30, ``fluency_weight`` 10), so 1.0 (the default) is the measured ranking.
      ``0`` means the check faces steer nothing — no check ranking of beams or drafts, no check-guided or pattern
      proposals: the same texts as without the check-only constraints (hard faces still hold; the report still
      checks every constraint).
    - **Unknown words** (``edit``): a source word the vocabulary lacks is read as ``[UNK]`` and comes back as
      written when kept (``report["unknown_words"]``: per sample, ``{"position", "word"}``). A word with a
      character no vocabulary word has (an emoji) is beyond the models' reading, so it is protected — kept
      intact, never silently dropped — and the report's checks judge the text with it.
    """

    backend = "edit"  # the name of this backend (``ctrlgen generate --backend``)

    def __init__(self, model: EditModel, tokenizer: Any, steps: int = 12, draft_model: str | None = None,
                 path: Path | None = None) -> None:
        self.model, self.tokenizer, self.T, self.path = model, tokenizer, steps, path  # T: training steps
        self.draft_model = draft_model
        self._alphabet = frozenset(c for w in tokenizer.vocab.words[len(SPECIALS):] for c in w)
        self._init_guides()

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike = "e2e-edit",
                        draft_model: str | None = None) -> DiffusERGenerator:
        """Load a checkpoint; ``draft_model`` (a bundled name or directory) overrides the checkpoint's
        ``bootstrap.draft_model`` for the ``"draft"`` bootstrap."""
        path = resolve_model_path(name_or_path)
        model, tok, cfg = load_pretrained(path, EditModel)
        diffusion = config_section(path, cfg, "diffusion", EditTrainingConfig)  # a bad field is a CheckpointError
        draft = draft_model or cfg.get("bootstrap", {}).get("draft_model")
        if draft_model is None and draft is not None and (path / draft).is_dir():  # saved beside it: save_pretrained
            draft = str(path / draft)
        return cls(model, tok, int(diffusion.steps), draft, path)

    def checkpoint_sections(self) -> dict[str, Any]:
        """The loaded sections, with ``bootstrap.draft_model`` pointing at the saved ``draft/`` folder."""
        sections = super().checkpoint_sections()
        if self.draft_model is not None:
            sections["bootstrap"] = {**sections.get("bootstrap", {}), "draft_model": DRAFT_DIR}
        return sections

    def write_companions(self, directory: Path) -> None:
        """Classifiers and README (:meth:`Generator.write_companions`), plus the AR draft LM in ``draft/``."""
        super().write_companions(directory)
        if self.draft_model is not None:
            ar = self.draft()
            save_pretrained(directory / DRAFT_DIR, ar, ar.hub_tokenizer, ar.hub_extra)

    @property
    def limit(self) -> int:
        return self.model.config.seq_len - 2

    def prepare(self, constraints: ConstraintLike) -> PreparedConstraint | None:
        """Compile constraints for this model (vocabulary, ``seq_len``, the edit backend)."""
        if constraints is None or constraints == []:
            return None
        return prepare(constraints, self.tokenizer, self.model.config.seq_len, "edit")

    def _options(self, sampler: EditSampler | None, steps: int | None, **kw: Any) -> tuple[Options, EditSampler]:
        """The call's options, validated once, and its sampler: revisions by the steps rule (an explicit ``steps``,
        else ``sampler.max_steps``, else the default), the check weight × ``guidance_scale``; then the budget."""
        if sampler is not None and not isinstance(sampler, EditSampler):
            raise SamplingError(f"sampler must be an EditSampler, got {type(sampler).__name__}",
                                "e.g. EditSampler(decoding='beam', beam=(3, 3)), or None for the default")
        opts = self.options(steps=steps, sampler_steps=None if sampler is None else sampler.max_steps, **kw)
        base = sampler or DEFAULT_SAMPLER
        if opts.steps != base.max_steps:
            base = replace(base, max_steps=opts.steps)
        if opts.guidance_scale != 1.0:
            base = replace(base, rank_weight=opts.guidance_scale * base.rank_weight)
        self.place(opts)
        self.check_budget(opts, base)
        return opts, base

    def budget(self, opts: Options, sampler: EditSampler | None = None) -> tuple[float, int]:
        """``(seconds per sample per revision, bytes per sample in flight)``, a lower bound for the two models
        alone (the AR draft and fluency model and the check faces come on top). A revision of one sample runs the
        tagger on its ``r`` kept texts and the generator's length and fill passes on ``r · b`` candidates; time:
        ``r · (1 + 2b)`` × one forward per row (timed once per device and dtype on ``PROBE_BATCH`` rows,
        :meth:`Generator.probe_seconds`); memory: ``r · b`` rows of ``seq_len · (itemsize · (8·hidden +
        heads·seq_len) + 2 · 8 · vocab)`` (activations, one attention map, fill logits and their float64 log-probs)."""
        r, b = (sampler or DEFAULT_SAMPLER).beam
        cfg, param = self.model.config, next(self.model.parameters())
        x = encode_batch([[len(SPECIALS)] * (cfg.seq_len - 2)] * PROBE_BATCH, cfg.seq_len).to(param.device)
        seconds = self.probe_seconds((str(param.device), param.dtype),
                                     lambda: self.model.generator.fill_logits(x, 1.0), PROBE_BATCH)
        activations = param.dtype.itemsize * (8 * cfg.hidden + cfg.heads * cfg.seq_len)
        per_row = cfg.seq_len * (activations + 16 * cfg.vocab_size)
        return seconds * r * (1 + 2 * b), r * b * per_row

    def check_budget(self, opts: Options, sampler: EditSampler | None = None) -> None:
        """:meth:`Generator.check_budget` with the estimate for ``sampler``'s beam."""
        seconds, memory = self.budget(opts, sampler)
        opts.check_budget(cost_per_step_s=seconds, memory_per_sample_bytes=memory,
                          default_steps=self.spec.default_steps)

    # ------------------------------------------------------------------------------------------ the run
    def _run(self, starts: list[list[int]], sources: list[tuple[list[str], list[int]]],
             prepared: PreparedConstraint | None, t_start: float, opts: Options, sampler: EditSampler,
             keep: int = 1, protect: Collection[int] = (), on_batch: OnBatch | None = None,
             diversity: float | None = None, **extra: Any) -> GenerationOutput:
        fixed, layout = layout_of(prepared.hard if prepared else None, self.tokenizer.vocab)
        gen = opts.torch_generator()
        t0 = time.perf_counter()
        steer = prepared if opts.guidance_scale > 0 else None  # guidance 0: the check faces steer nothing
        rank, phrases, fluency = self._rank(steer), self.phrases_for(steer), self.fluency()
        sampler = replace(sampler, rank_weight=sampler.rank_weight * leaf_scale(steer))  # each leaf counts in full
        propose, local_rank = self.proposer(steer), self._local_rank(steer)
        if propose is not None and not local_leaves(steer):  # type: ignore[arg-type]
            sampler = replace(sampler, explore=False)  # label patterns are all there is to explore
        if sampler.explore_budget is None:  # a parse per proposal (spans): the likeliest proposals only
            sampler = replace(sampler, explore_budget=explore_budget(steer))
        protected = sorted(set(fixed) | set(protect))
        if isinstance(t_start, bool) or not isinstance(t_start, int | float) or not 1 <= t_start < float("inf"):
            raise SamplingError(f"t_start must be a finite number >= 1, got {t_start!r}",
                                f"the first revision step index, 1 … {self.T} (the model's diffusion.steps)")
        ts = [float(t) for t in range(max(1, round(t_start)), 0, -1)]  # t_start, …, 1, then 1 again
        ids, traj, steps, parts, used = [], [], [], [], set()  # used: texts returned so far (see .choose)
        for lo in range(0, len(starts), opts.batch_size):
            chunk = starts[lo:lo + opts.batch_size]
            out = sampler.sample(self.model.tagger, self.model.generator, chunk, ts, gen, [protected] * len(chunk),
                                 rank, opts.return_trajectory, opts.show_progress(), layout, phrases, fluency, propose,
                                 local_rank)
            new = [b[:keep] for b in out.beams] if keep > 1 else \
                [[x] for x in choose(out.beams, rank, fluency, propose is not None, diversity, used)]
            if on_batch is not None:  # streamed: this chunk's own report (merged below)
                parts.append(self._output(new, sources[lo:lo + len(chunk)], out.steps, prepared))
                on_batch(sum(map(len, ids)), parts[-1])
            ids += new
            traj += [[(r.t, r.ids[j]) for r in out.trajectory] for j in range(len(chunk))]
            steps += out.steps
        vocab = self.tokenizer.vocab
        trajectory = None
        if opts.return_trajectory:
            width = max((len(t) for t in traj), default=0)
            trajectory = [[self.tokenizer.detokenize([vocab.word(i) for i in (t[k][1] if k < len(t) else t[-1][1])])
                           for t in traj] for k in range(width)]
        if parts:
            rows = {k: [v for p in parts for v in p.report[k]] for k in ("steps", "edits", "start", "unknown_words")}
            return merge_batches(parts, trajectory, seconds=time.perf_counter() - t0, seed=opts.seed, **rows, **extra)
        return self._output(ids, sources, steps, prepared, trajectory, seconds=time.perf_counter() - t0,
                            seed=opts.seed, **extra)

    def _output(self, ids: list[list[list[int]]], sources: list[tuple[list[str], list[int]]], steps: list[int],
                prepared: PreparedConstraint | None, trajectory: list[list[str]] | None = None,
                **call: Any) -> GenerationOutput:
        """The output of ``ids`` (per start, its kept results' ids) revised from ``sources``: ``build_output`` with
        the per-result ``steps``, ``edits``, ``start`` and ``unknown_words`` and the ``call`` entries."""
        rows = [r for b in ids for r in b]
        src = [s for s, b in zip(sources, ids) for _ in b]
        vocab = self.tokenizer.vocab
        return build_output(encode_batch(rows, self.model.config.seq_len), SourceSpelling(self.tokenizer, src),
                            prepared, trajectory, **call, steps=[s for s, b in zip(steps, ids) for _ in b],
                            edits=[describe(w, i, r, vocab) for (w, i), r in zip(src, rows)],
                            start=[self.tokenizer.detokenize(w) for w, _ in src],
                            unknown_words=[unknown_words(w, i, r, vocab) for (w, i), r in zip(src, rows)])

    def _starts(self, rows: list[list[int]], prepared: PreparedConstraint | None, k: int = 1,
                sampler: EditSampler | None = None, steer: PreparedConstraint | None = None) -> list[list[int]]:
        """The rows revision starts from (:func:`.placing.start_rows`)."""
        return start_rows(self, rows, prepared, k, sampler, steer)

    def _sources(self, starts: list[list[int]]) -> list[tuple[list[str], list[int]]]:  # (words, ids) per start
        return [([self.tokenizer.vocab.word(i) for i in r], r) for r in starts]

    # ------------------------------------------------------------------------------------------- the API
    def generate(self, n: int = 8, steps: int | None = None, seed: int | None = 0, constraints: ConstraintLike = None,
                 batch_size: int = 64, progress: bool | None = None, sampler: EditSampler | None = None,
                 bootstrap: Literal["draft", "empty", "random"] = "draft", drafts: int | None = None,
                 t_start: float = 2.0, return_trajectory: bool = False, guidance_scale: float = 1.0,
                 device: str | None = None, dtype: str | None = None,
                 on_batch: OnBatch | None = None, diversity: float | None = DIVERSITY) -> GenerationOutput:
        """``n`` texts: bootstraps (see the module docstring) revised toward ``constraints`` for at most ``steps``
        revisions (the rule: see the class docstring). ``drafts`` AR drafts per sample (default 32 per checked leaf, at
        most 128 — a whole MR's best draft then already realises most fields; 128 under a
        per-word label constraint such as ``POS``, whose drafts are written under its lexicon) are ranked by the
        check face before revision; ``t_start`` is the first step index of a draft's revision. Same ``seed`` →
        same texts.
        ``on_batch(start, part)`` is called after each finished batch (streaming: :mod:`ctrlgen.core.contract`).
        ``diversity`` (0 … 1, ``None``: off): the ``n`` texts are distinct where a sample's kept texts allow one
        whose check score is at most ``diversity`` below its best (:mod:`.choose`)."""
        check_diversity(diversity)
        opts, run_sampler = self._options(sampler, steps, n=n, seed=seed, batch_size=batch_size, dtype=dtype,
                                          guidance_scale=guidance_scale, progress=progress, device=device,
                                          return_trajectory=return_trajectory)
        prepared = self.prepare(constraints)
        steer = prepared if opts.guidance_scale > 0 else None
        gen = opts.torch_generator()
        if bootstrap == "draft":
            propose = self.proposer(steer)
            if drafts is None:  # more drafts for more leaves: a whole MR's start already realises most fields
                drafts = PATTERN_DRAFTS if propose is not None else DRAFTS * min(DRAFT_LEAVES, round(leaf_scale(steer)))
            if isinstance(drafts, bool) or not isinstance(drafts, int) or drafts < 1:
                raise SamplingError(f"drafts must be an int ≥ 1, got {drafts!r}", "e.g. drafts=32")
            mask = propose.draft_mask(self.draft().config.seq_len) if propose is not None else None
            score, cheap = self._draft_rank(steer)
            rows, _ = draft_starts(self.draft(), opts.n, drafts, gen, score, self.limit, mask,
                                   DRAFT_TOP_P if mask is not None else 1.0, cheap)
        elif bootstrap == "empty":
            rows, t_start = [[] for _ in range(opts.n)], float(self.T)
        elif bootstrap == "random":
            lens = torch.randint(min(8, self.limit), min(25, self.limit + 1), (opts.n,), generator=gen).tolist()
            rows = [torch.randint(len(SPECIALS), len(self.tokenizer), (m,), generator=gen).tolist() for m in lens]
            t_start = float(self.T)
        else:
            raise SamplingError(f"unknown bootstrap {bootstrap!r}", "choose 'draft', 'empty' or 'random'")
        starts = self._starts(rows, prepared, sampler=run_sampler, steer=steer)
        return self._run(starts, self._sources(starts), prepared, t_start, opts, run_sampler, on_batch=on_batch,
                         diversity=diversity, bootstrap=bootstrap)

    def infill(self, template: str, n: int = 4, steps: int | None = None, seed: int | None = 0,
               constraints: ConstraintLike = None, batch_size: int = 64, progress: bool | None = None,
               sampler: EditSampler | None = None, t_start: float = 1.0, return_trajectory: bool = False,
               guidance_scale: float = 1.0, device: str | None = None, dtype: str | None = None,
               on_batch: OnBatch | None = None) -> GenerationOutput:
        """Fill the holes of ``template`` (``"The Vaults is a [MASK:3] pub near [MASK] ."``): the ``n`` best
        left-to-right fills of the holes, each revised with the template's words protected and in place, ordered
        by minimum Bayes risk (``report["mbr"]``; ``texts[0]`` is the MBR choice)."""
        opts, run_sampler = self._options(sampler, steps, n=n, seed=seed, batch_size=batch_size, dtype=dtype,
                                          guidance_scale=guidance_scale, progress=progress, device=device,
                                          return_trajectory=return_trajectory)
        prepared = self.prepare(Infill(template) if constraints is None else Infill(template) & constraints)
        starts = self._starts([[]], prepared, k=opts.n)
        out = self._run(starts, self._sources(starts), prepared, t_start, opts, run_sampler, on_batch=on_batch)
        return order_by_mbr(out, ("edits", "steps", "start", "unknown_words"))

    def edit(self, text: str, constraints: ConstraintLike = None, n: int = 1, seed: int | None = 0,
             sampler: EditSampler | None = None, steps: int | None = None, protect: Collection[int] = (),
             t_start: float = 1.0, progress: bool | None = None, return_trajectory: bool = False,
             guidance_scale: float = 1.0, device: str | None = None, dtype: str | None = None) -> GenerationOutput:
        """Revise ``text`` toward ``constraints`` with few changes: the ``n`` best distinct results of the beam,
        best first (``n`` > r widens the beam to ``n``), after at most ``steps`` revisions (the rule: see the class
        docstring). ``protect``: 1-based word positions never changed. ``report["edits"]`` lists the operations
        from ``text`` to each result; ``report["unknown_words"]`` the words kept as written outside the vocabulary."""
        if not isinstance(text, str) or not split_words(text):
            raise SamplingError("the text to edit is empty",
                                "pass a sentence; to write from nothing use generate(bootstrap='empty')")
        words = split_words(text)
        if len(words) > self.limit:
            raise SamplingError(f"the text has {len(words)} words, more than this model's {self.limit}",
                                "shorten it, or use a model with a longer seq_len")
        bad = [p for p in protect if isinstance(p, bool) or not isinstance(p, int) or not 1 <= p <= len(words)]
        if bad:
            raise SamplingError(f"protect positions {bad} are outside 1..{len(words)}",
                                "word k is position k (1-based)")
        opts, run_sampler = self._options(sampler, steps, n=n, seed=seed, guidance_scale=guidance_scale, dtype=dtype,
                                          progress=progress, return_trajectory=return_trajectory, device=device)
        if run_sampler.beam[0] < opts.n:
            run_sampler = replace(run_sampler, beam=(opts.n, run_sampler.beam[1]))
        prepared = self.prepare(constraints)
        vocab = self.tokenizer.vocab
        ids = vocab.ids(words)
        start = self._starts([ids], prepared)[0]  # == ids unless hard faces rewrote positions (kept in place)
        same = [k < len(ids) and i == ids[k] for k, i in enumerate(start)]
        src_words = [words[k] if ok else vocab.word(i) for k, (i, ok) in enumerate(zip(start, same))]
        unreadable = {k + 1 for k, (w, ok) in enumerate(zip(src_words, same)) if ok and not set(w) <= self._alphabet}
        return self._run([start], [(src_words, start)], prepared, t_start, opts, run_sampler, keep=opts.n,
                         protect=set(protect) | unreadable)
