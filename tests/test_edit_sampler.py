"""Edit-diffusion revision decoding: plumbing with rule-based stub models, invariants with tiny untrained models
(hidden 32, 2 layers), 2D beam ranking, clipping at seq_len, argument errors. CPU, one thread."""

from __future__ import annotations

from itertools import pairwise
from types import SimpleNamespace

import pytest
import torch
from torch import Tensor, nn

from ctrlgen.backends.edit.edits import Edit, EditScript, apply_edits
from ctrlgen.backends.edit.models import EditGenerator, EditGeneratorConfig, EditTagger, EditTaggerConfig
from ctrlgen.backends.edit.sampler import EditSampler
from ctrlgen.errors import SamplingError
from ctrlgen.text.vocab import SPECIALS

torch.set_num_threads(1)
V, L, MAX_SPAN = 30, 16, 4
A, B, C, D, W1, W2 = 10, 11, 12, 13, 20, 21  # word ids
BIG = 10.0  # logit margin of the stubs' preferred class


# ------------------------------------------------------------------------------------------- stub models
def _words(ids: Tensor) -> list[list[int]]:
    """Word ids of each row of ``[START] w… [END] PAD…``."""
    return [r[1:r.index(2)] for r in ids.tolist()]  # 2 = [END]


class RuleTagger(nn.Module):
    """Logits from a rule ``rule(words) -> {slot: Edit or 4 logits}``; an Edit wins by ``BIG``; other slots KEEP."""

    def __init__(self, rule, seq_len: int = L) -> None:
        super().__init__()
        self.rule, self.config = rule, SimpleNamespace(seq_len=seq_len)

    def forward(self, ids: Tensor, t) -> Tensor:
        out = torch.zeros(*ids.shape, len(Edit))
        out[..., Edit.KEEP] = BIG
        for b, words in enumerate(_words(ids)):
            for slot, tag in self.rule(words).items():
                out[b, slot] = torch.tensor(tag) if isinstance(tag, tuple) else BIG * torch.eye(len(Edit))[tag]
        return out


class RuleGenerator(nn.Module):
    """Span length ``span`` (by a margin of ``BIG``) and fill logits ``fill`` (id -> logit, others −BIG)."""

    def __init__(self, span: int, fill: dict[int, float], seq_len: int = L) -> None:
        super().__init__()
        self.span, self.fill = span, fill
        self.config = SimpleNamespace(seq_len=seq_len)

    def length_logits(self, ids: Tensor, tags: Tensor, t) -> Tensor:
        out = torch.zeros(*ids.shape, MAX_SPAN + 1)
        out[..., self.span] = BIG
        return out

    def fill_logits(self, ids: Tensor, t) -> Tensor:
        out = torch.full((*ids.shape, V), -BIG)
        out[..., 0] = 2 * BIG  # [PAD] and [UNK] look best: the sampler must never write them
        out[..., 3] = 2 * BIG
        for i, v in self.fill.items():
            out[..., i] = v
        return out


def tiny_models(seq_len: int = L) -> tuple[EditTagger, EditGenerator]:
    torch.manual_seed(0)
    cfg = {"vocab_size": V, "seq_len": seq_len, "hidden": 32, "layers": 2, "heads": 2, "dropout": 0.0}
    return EditTagger(EditTaggerConfig(**cfg)).eval(), EditGenerator(EditGeneratorConfig(**cfg, max_span=MAX_SPAN)).eval()


STARTS = [[A, B, C, D], [], [C, A, A, B, D, C, B]]


def _check_chain(out, starts) -> None:
    """Every step's edits turn the previous ids into the recorded ids; no special id anywhere."""
    prev = [list(s) for s in starts]
    for rev in out.trajectory:
        for b, (script, ids) in enumerate(zip(rev.edits, rev.ids)):
            assert apply_edits(prev[b], script) == ids
        prev = rev.ids
    assert prev == out.ids
    assert all(i >= len(SPECIALS) for ids in out.ids for i in ids)


# ------------------------------------------------------------------------------------------------ tests
def test_keep_everywhere_stops_after_one_step_unchanged():
    out = EditSampler(max_steps=5).sample(RuleTagger(lambda w: {}), RuleGenerator(1, {W1: 0.0}), [[A, B, C], []],
                                          t_schedule=5, return_trajectory=True)
    assert out.ids == [[A, B, C], []] and out.steps == [1, 1] and len(out.trajectory) == 1
    assert out.trajectory[0].edits == [EditScript.keep_all(3), EditScript.keep_all(0)]


def test_delete_and_insert_at_slot_0_give_the_expected_text():
    def rule(words):  # delete every D; insert W1 at the start unless it is there
        tags = {k: Edit.DELETE for k, w in enumerate(words, 1) if w == D}
        return tags if words[:1] == [W1] else {0: Edit.INSERT, **tags}

    out = EditSampler(max_steps=6).sample(RuleTagger(rule), RuleGenerator(1, {W1: 0.0}), [[A, D, B], [D]],
                                          t_schedule=6, return_trajectory=True)
    assert out.ids == [[W1, A, B], [W1]] and out.steps == [2, 2]
    assert out.trajectory[0].edits[0] == EditScript((Edit.INSERT, Edit.KEEP, Edit.DELETE, Edit.KEEP),
                                                    ((W1,), (), (), ()))
    assert out.trajectory[1].edits == [EditScript.keep_all(3), EditScript.keep_all(1)]
    _check_chain(out, [[A, D, B], [D]])


def test_insert_after_a_word_and_replace():
    def rule(words):
        return {k: Edit.INSERT for k, w in enumerate(words, 1) if w == A} | \
               {k: Edit.REPLACE for k, w in enumerate(words, 1) if w == C}

    out = EditSampler(max_steps=1).sample(RuleTagger(rule), RuleGenerator(2, {W2: 0.0}), [[A, B, C]], t_schedule=1)
    assert out.ids == [[A, W2, W2, B, W2, W2]] and out.steps == [1]


def test_long_insertions_are_clipped_to_seq_len():
    gen = RuleGenerator(MAX_SPAN, {W1: 0.0}, seq_len=10)  # 8 words fit
    tagger = RuleTagger(lambda w: {k: Edit.INSERT for k in range(len(w) + 1)}, seq_len=12)
    out = EditSampler(max_steps=4).sample(tagger, gen, [[A, B, C]], t_schedule=4, return_trajectory=True)
    # 3 kept + 4 × 4 placeholders, 8 fit: the right-most spans go first (slots 3 and 2 empty, slot 1 keeps 1)
    expected = [W1] * 4 + [A, W1, B, C]
    assert out.trajectory[0].ids == [expected]
    assert out.trajectory[0].edits[0].tags == (Edit.INSERT, Edit.INSERT, Edit.KEEP, Edit.KEEP)
    assert out.ids == [expected] and out.steps == [2]  # then nothing fits: the revision is a no-op


def test_two_d_beam_returns_the_best_ranked_candidate():
    # [A, B]: INSERT at slot 0 (logit 2 vs KEEP 0), then one word: W1 (logit 1) or W2 (logit 0); 3 words: KEEP
    tagger = RuleTagger(lambda w: {0: (0.0, 0.0, 0.0, 2.0)} if len(w) == 2 else {})
    gen = RuleGenerator(1, {W1: 1.0, W2: 0.0})
    greedy = EditSampler(max_steps=5).sample(tagger, gen, [[A, B]], 5)
    assert greedy.ids == [[W1, A, B]] and greedy.steps == [2]
    target = [W2, A, B]
    rank = lambda rows: [5.0 if r == target else 0.0 for r in rows]
    out = EditSampler(max_steps=5, decoding="beam", beam=(2, 2), explore=False, rank_weight=1.0).sample(
        tagger, gen, [[A, B]], 5, rank=rank, return_trajectory=True)  # no proposals: the models' paths only
    assert out.ids == [target] and out.steps == [2]
    # the score is exactly the path's log-likelihood (two revisions) plus the rank term
    lsm = lambda *x: torch.tensor(x, dtype=torch.float64).log_softmax(-1)
    keep, keep0 = lsm(BIG, 0.0, 0.0, 0.0)[0].item(), lsm(BIG, 0.0)[0].item()  # a word; slot 0 (KEEP or INSERT)
    # step 1: INSERT at slot 0, KEEP A and B, span length 1 of 1..MAX_SPAN, W2 among the non-special ids
    step1 = lsm(0.0, 2.0)[1] + 2 * keep + lsm(BIG, *[0.0] * (MAX_SPAN - 1))[0] + lsm(1.0, 0.0, *[-BIG] * (V - 7))[1]
    assert out.log_probs[0] == pytest.approx(step1.item() + keep0 + 3 * keep, abs=1e-9)  # step 2: KEEP everywhere
    assert out.scores[0] == pytest.approx(out.log_probs[0] + 5.0, abs=1e-9)
    assert [r.log_probs[0] for r in out.trajectory] == pytest.approx([step1.item(), out.log_probs[0]], abs=1e-9)
    without = EditSampler(max_steps=5, decoding="beam", beam=(2, 2)).sample(tagger, gen, [[A, B]], 5)
    assert without.ids == [[W1, A, B]] and without.scores == without.log_probs


@pytest.mark.parametrize("decoding,beam", [("nucleus", (1, 1)), ("nucleus", (2, 3)), ("beam", (2, 2))])
def test_same_seed_same_output_and_no_specials(decoding, beam):
    tagger, gen = tiny_models()
    s = EditSampler(max_steps=4, decoding=decoding, beam=beam, top_p=0.9)
    run = lambda seed: s.sample(tagger, gen, STARTS, 8, generator=torch.Generator().manual_seed(seed),
                                return_trajectory=True)
    a, b = run(0), run(0)
    assert a.ids == b.ids and a.scores == b.scores
    assert [(r.edits, r.ids) for r in a.trajectory] == [(r.edits, r.ids) for r in b.trajectory]
    _check_chain(a, STARTS)
    assert all(len(ids) <= L - 2 for r in a.trajectory for ids in r.ids)
    assert sum(r.edits[0].num_edits for r in a.trajectory) > 0  # the untrained models do edit
    if decoding == "nucleus":
        assert run(1).ids != a.ids


def _protected_never_change(out, starts, flags):
    for rev in out.trajectory:
        new = []
        for b, script in enumerate(rev.edits):
            assert all(script.tags[k] == Edit.KEEP for k, f in enumerate(flags[b]) if f)
            f = [flags[b][0]] + [False] * len(script.spans[0])
            for p, tag, span in zip(flags[b][1:], script.tags[1:], script.spans[1:]):
                f += ([p] if tag in (Edit.KEEP, Edit.INSERT) else []) + [False] * len(span)
            new.append(f)
        flags = new
    for b, start in enumerate(starts):  # the protected words survive in order
        assert [w for w, f in zip(out.ids[b], flags[b][1:]) if f] == [w for k, w in enumerate(start, 1) if k in PROT[b]]


PROT = [{0, 1, 3}, set(), {2, 5, 6}]


@pytest.mark.parametrize("decoding,beam", [("nucleus", (1, 1)), ("beam", (2, 2))])
def test_protected_tokens_never_change(decoding, beam):
    tagger, gen = tiny_models()
    out = EditSampler(max_steps=5, decoding=decoding, beam=beam, top_p=0.95).sample(
        tagger, gen, STARTS, 8, generator=torch.Generator().manual_seed(0), protect=PROT, return_trajectory=True)
    flags = [[k in p for k in range(len(s) + 1)] for s, p in zip(STARTS, PROT)]
    _protected_never_change(out, STARTS, flags)
    assert sum(e.num_edits for rev in out.trajectory for e in rev.edits) > 0  # not vacuous: the models do edit
    assert out.ids[0][:1] == [A]  # slot 0 protected: nothing is inserted before the first word
    # the same through a BoolTensor[B, L] in the model layout (positions past a text are ignored)
    mask = torch.zeros(len(STARTS), L, dtype=torch.bool)
    for b, p in enumerate(PROT):
        mask[b, list(p)] = True
    mask[1, 5] = True
    again = EditSampler(max_steps=5, decoding=decoding, beam=beam, top_p=0.95).sample(
        tagger, gen, STARTS, 8, generator=torch.Generator().manual_seed(0), protect=mask)
    assert again.ids == out.ids


def test_token_predicate_protects_every_occurrence():
    tagger, gen = tiny_models()
    out = EditSampler(max_steps=5, decoding="nucleus", top_p=0.95).sample(
        tagger, gen, STARTS, 8, generator=torch.Generator().manual_seed(1), protect=lambda tok: tok == A,
        return_trajectory=True)
    prev = STARTS
    for rev in out.trajectory:
        for b, script in enumerate(rev.edits):
            assert all(script.tags[k] == Edit.KEEP for k, w in enumerate(prev[b], 1) if w == A)
        prev = rev.ids
    counts = [[r.count(A) for r in STARTS]] + [[r.count(A) for r in rev.ids] for rev in out.trajectory]
    assert all(x <= y for before, after in pairwise(counts) for x, y in zip(before, after))
    assert sum(e.num_edits for rev in out.trajectory for e in rev.edits) > 0  # not vacuous: the models do edit


def test_bad_arguments_raise_sampling_error():
    for kw in ({"max_steps": 0}, {"beam": (0, 1)}, {"beam": (1,)}, {"decoding": "topk"},
               {"decoding": "nucleus", "top_p": 0.0}, {"beam": (1, 2)}):
        with pytest.raises(SamplingError):
            EditSampler(**kw)
    s, tagger, gen = EditSampler(), RuleTagger(lambda w: {}), RuleGenerator(1, {W1: 0.0})
    for starts, sched in (([[A, 2]], 3), ([[A] * (L - 1)], 3), ([], 3), ([[A]], 0), ([[A]], [])):
        with pytest.raises(SamplingError):
            s.sample(tagger, gen, starts, sched)
    with pytest.raises(SamplingError):
        s.sample(tagger, gen, [[A]], 3, protect=[{-1}])
    with pytest.raises(SamplingError):
        EditSampler(decoding="beam", beam=(1, 2)).sample(tagger, gen, [[A]], 3, rank=lambda rows: None)
    assert EditSampler(max_steps=5).timesteps(3) == [3.0, 2.0, 1.0, 1.0, 1.0]
    assert EditSampler(max_steps=3).timesteps([4, 2]) == [4.0, 2.0, 2.0]


def test_explore_budget_scores_only_the_likeliest_writing_proposals_and_every_deletion():
    """``explore_budget``: an expensive check (a parse per text) scores at most the budget's likeliest word-writing
    proposals, plus every deletion; without it, every proposal. A bad budget is refused."""
    from ctrlgen.backends.edit.explore import explore

    fill = {W1: 1.0, W2: 0.5, A: -1.0, B: -2.0}
    gen = RuleGenerator(1, fill)
    row = [A, B, C, D, A]
    n = len(row)
    allowed = [[True] * len(Edit) for _ in range(n + 1)]
    allowed[0][Edit.REPLACE] = allowed[0][Edit.DELETE] = False  # slot 0 only inserts
    seen: list[list[int]] = []

    def rank(rows):
        seen.extend(rows)
        return [0.5 + 0.01 * (W1 in r) for r in rows]

    def run(budget):
        seen.clear()
        out = explore(gen, row, [False] * n, torch.zeros(n + 1, len(Edit)), (allowed, [0] * (n + 1)), rank, 0.5, 1.0,
                      4, 8, (), L, None, torch.device("cpu"), budget=budget)
        return out, list(seen)

    _, every = run(None)
    deletions = [r for r in every if len(r) < n and all(w in row for w in r)]
    out, some = run(5)
    writes = [r for r in some if r not in deletions]
    assert len(writes) == 5 and len(every) > len(some) and all(d in some for d in deletions)
    assert all(W1 in r for r in writes)  # the likeliest word (log-prob first) is written first
    assert out and all(W1 in c.ids for c in out)  # only proposals that raise the score come back
    with pytest.raises(SamplingError, match="explore_budget"):
        EditSampler(explore_budget=0)
