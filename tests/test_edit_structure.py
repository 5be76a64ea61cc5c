"""Structure control on the edit backend (issue 14): two-stage ranking (the expensive check labels only what the
cheap stage keeps), distinct samples, the fluent one among equally checked texts. Stub models, CPU, < 1 s."""

from __future__ import annotations

import math

import pytest
import torch
from test_edit_sampler import W1, W2, A, B, C, D, RuleGenerator, RuleTagger

from ctrlgen.backends.edit.choose import check_diversity, choose
from ctrlgen.backends.edit.sampler import EditSampler
from ctrlgen.backends.edit.start import draft_starts
from ctrlgen.errors import SamplingError

torch.set_num_threads(1)


# ------------------------------------------------------------------------------------- choose (.choose)
def _table(values: dict[tuple[int, ...], float]):
    return lambda rows: [values[tuple(r)] for r in rows]


def test_choose_returns_distinct_texts_where_the_beams_allow():
    beams = [[[A], [B]], [[A], [C]], [[A], [B]]]  # every sample's best is [A]
    out = choose(beams, None, None, False, 1.0)
    assert out == [[A], [C], [B]]
    assert choose(beams, None, None, False, None) == [[A], [A], [A]]  # off: each sample's first


def test_choose_repeats_only_when_no_other_text_is_kept():
    assert choose([[[A]], [[A]]], None, None, False, 1.0) == [[A], [A]]


def test_diversity_bounds_the_check_score_a_distinct_text_may_lose():
    rank = _table({(A,): 1.0, (B,): 0.8, (C,): 1.0})
    beams = [[[A], [B]], [[A], [B]], [[A], [C]]]
    assert choose(beams, rank, None, False, 0.0) == [[A], [A], [C]]  # only as good: [B] is 0.2 below
    assert choose(beams, rank, None, False, 0.25) == [[A], [B], [C]]


def test_by_fluency_takes_the_most_fluent_passing_text_not_the_beams_first():
    rank = _table({(A,): 1.0, (B,): 1.0, (C,): 0.5, (D,): 0.9})
    flu = _table({(A,): -3.0, (B,): -1.0, (C,): 0.0, (D,): 0.5})
    assert choose([[[C], [A], [B]]], rank, flu, True, None) == [[B]]  # C is most fluent but fails the check
    assert choose([[[C], [A], [B]]], rank, flu, False, None) == [[C]]
    assert choose([[[C], [D]]], rank, flu, True, None) == [[C]]  # none passes: the beam's order


def test_choose_keeps_texts_distinct_across_batches():
    used: set[tuple[int, ...]] = set()
    assert choose([[[A], [B]]], None, None, False, 1.0, used) == [[A]]
    assert choose([[[A], [B]]], None, None, False, 1.0, used) == [[B]]


@pytest.mark.parametrize("bad", [-0.1, 1.5, True, "1", math.nan])
def test_bad_diversity_raises(bad):
    with pytest.raises(SamplingError, match="diversity"):
        check_diversity(bad)


# ------------------------------------------------------------------------ two-stage draft ranking (start)
class _Drafts:
    """An AR stub: ``sample`` returns the given rows as ``[START] w… [END]``."""

    def __init__(self, rows):
        self.rows = rows

    def sample(self, n, **kw):
        assert n == len(self.rows)
        width = 2 + max(map(len, self.rows))
        return torch.tensor([[1, *r, 2] + [0] * (width - len(r) - 2) for r in self.rows])


def test_draft_starts_labels_only_the_shortlist_of_the_cheap_stage():
    rows = [[A], [B], [C], [D], [W1], [W2]]  # two samples of three drafts
    seen: list[list[int]] = []

    def full(batch):
        seen.extend(batch)
        return [1.0 if r == [C] else 0.5 for r in batch]

    cheap = _table({(A,): 0.0, (B,): 1.0, (C,): 0.2, (D,): 0.3, (W1,): 0.3, (W2,): 0.9})
    out, scores = draft_starts(_Drafts(rows), 2, 3, torch.Generator(), full, 10, cheap=cheap, shortlist=1)
    assert sorted(seen) == sorted([[B], [W2]])  # the full check never saw the others
    assert out == [[B], [W2]] and scores == [0.5, 0.5]
    out, _ = draft_starts(_Drafts(rows), 2, 3, torch.Generator(), full, 10, cheap=cheap, shortlist=3)
    assert out[0] == [C]  # with the whole group shortlisted, the full check decides
    assert draft_starts(_Drafts(rows), 2, 3, torch.Generator(), full, 10)[0] == [[C], [D]]  # one stage


# --------------------------------------------------------------------- two-stage proposals (sampler.step)
def test_local_proposals_raise_the_cheap_score_and_the_full_check_is_not_asked():
    """With ``explore_rank`` the local proposals are judged by it alone; the full ``rank`` is never called by
    ``step`` (the loop ranks the few kept ones), and a text the cheap stage already passes gets none."""
    tagger, gen = RuleTagger(lambda w: {}), RuleGenerator(1, {W1: 0.0, W2: -1.0})
    calls = []

    def rank(rows):
        calls.append(len(rows))
        return [0.0] * len(rows)

    cheap = lambda rows: [float(W2 in r) for r in rows]
    s = EditSampler(decoding="beam", beam=(1, 1), explore_keep=4)
    out = s.step(tagger, gen, [[A, B]], 1.0, explore=[0.0], rank=rank, explore_rank=cheap)
    proposals = [c for c in out.candidates[0] if c.ids != (A, B)]
    assert proposals and all(W2 in c.ids for c in proposals) and calls == []
    out = s.step(tagger, gen, [[A, W2]], 1.0, explore=[0.0], rank=rank, explore_rank=cheap)
    assert [c.ids for c in out.candidates[0]] == [(A, W2)] and calls == []  # cheap stage met: no proposals
    # without explore_rank the full check judges the proposals (the behaviour for a constraint without a tagger)
    out = s.step(tagger, gen, [[A, B]], 1.0, explore=[0.0], rank=rank)
    assert calls and [c.ids for c in out.candidates[0]] == [(A, B)]  # nothing raises the full check: none kept
