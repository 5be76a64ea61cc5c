"""Edit diffusion (DiffusER): corruption, gold reverse edits, Levenshtein alignment. Pure Python, CPU, fast.

Property tests are seeded loops (no extra test dependency), several hundred cases each."""

from __future__ import annotations

import random

import pytest
import torch

from ctrlgen.backends.edit.corruption import EditDiffusion, EditDiffusionConfig
from ctrlgen.backends.edit.edits import Edit, EditScript, align, apply_edits, edit_distance
from ctrlgen.config import from_dict
from ctrlgen.errors import ConfigError, DataError, SamplingError

KEEP, DEL, REP, INS = Edit.KEEP, Edit.DELETE, Edit.REPLACE, Edit.INSERT


def levenshtein(a: list[int], b: list[int]) -> int:
    """The textbook DP, independent of the library's."""
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]))
        prev = cur
    return prev[-1]


def random_ids(r: random.Random, max_len: int, alphabet: int) -> list[int]:
    return [r.randrange(5, 5 + alphabet) for _ in range(r.randint(0, max_len))]


def random_config(r: random.Random) -> EditDiffusionConfig:
    w = [r.random() for _ in range(4)]
    p = [x / sum(w) for x in w]
    p[0] = 1 - sum(p[1:])
    if r.random() < 0.5:
        return EditDiffusionConfig(*p, span="poisson", span_lambda=r.uniform(0, 4), max_span=r.choice([None, 2, 5]))
    return EditDiffusionConfig(*p, span="uniform", max_span=r.randint(1, 4))


# ---------------------------------------------------------------------------------------------- alignment
def test_alignment_properties_over_random_pairs():
    r = random.Random(0)
    for case in range(800):
        alphabet = r.choice([2, 3, 8])  # small alphabets make many ties
        src, tgt = random_ids(r, 12, alphabet), random_ids(r, 12, alphabet)
        script = align(src, tgt)
        dist = levenshtein(src, tgt)
        assert apply_edits(src, script) == tgt, (case, src, tgt, script)
        assert script.cost == dist == edit_distance(src, tgt), (case, src, tgt, script)
        assert script.source_length == len(src) and script.target_length == len(tgt)
        assert align(src, tgt) == script  # deterministic
        for k, (tag, span) in enumerate(zip(script.tags[1:], script.spans[1:])):
            if tag == REP:  # canonical: a replacement never starts with the token it replaces
                assert span[0] != src[k]


def test_alignment_tie_breaking_is_documented_one():
    assert align([5], [5, 5]) == EditScript((INS, KEEP), ((5,), ()))  # insert on slot 0
    assert align([5, 5], [5]) == EditScript((KEEP, DEL, KEEP), ((), (), ()))  # delete the first
    assert align([5, 6], [6, 5]) == EditScript((INS, KEEP, DEL), ((6,), (), ()))
    # fewest substitutions among minimal scripts: keep 5 and 7 rather than substitute twice
    assert align([5, 6, 7], [9, 5, 7, 8]) == EditScript((INS, KEEP, DEL, INS), ((9,), (), (), (8,)))
    # substitute or insert: insertions go left, onto slot 0
    assert align([5], [6, 7]) == EditScript((INS, REP), ((6,), (7,)))


def test_insertion_at_start_and_end():
    assert align([5, 6], [7, 8, 5, 6]) == EditScript((INS, KEEP, KEEP), ((7, 8), (), ()))
    assert align([5, 6], [5, 6, 7]) == EditScript((KEEP, KEEP, INS), ((), (), (7,)))
    assert apply_edits([5, 6], EditScript((INS, KEEP, INS), ((9,), (), (10, 11)))) == [9, 5, 6, 10, 11]
    assert apply_edits([5, 6, 7], EditScript((KEEP, REP, DEL, KEEP), ((), (8, 9), (), ()))) == [8, 9, 7]


def test_empty_source_and_target():
    assert align([], []) == EditScript.keep_all(0)
    assert apply_edits([], EditScript.keep_all(0)) == []
    assert align([], [5, 6]) == EditScript((INS,), ((5, 6),))
    assert align([5, 6], []) == EditScript((KEEP, DEL, DEL), ((), (), ()))
    assert apply_edits([], align([], [5, 6])) == [5, 6] and apply_edits([5, 6], align([5, 6], [])) == []
    assert edit_distance([], [5, 6, 7]) == 3


def test_malformed_scripts_raise_data_error():
    bad = [((DEL, KEEP), ((), ())),  # slot 0 is not a token
           ((KEEP, REP), ((), ())),  # REPLACE needs a span
           ((KEEP, KEEP), ((), (5,))),  # KEEP takes none
           ((KEEP, 7), ((), ())),  # no such tag
           ((KEEP, KEEP), ((),)),  # lengths differ
           ((), ())]
    for tags, spans in bad:
        with pytest.raises(DataError):
            EditScript(tags, spans)
    with pytest.raises(DataError, match="source has 3"):
        apply_edits([5, 6, 7], EditScript.keep_all(2))


# ---------------------------------------------------------------------------------------------- corruption
def test_reverse_edits_undo_each_step_over_random_cases():
    r = random.Random(1)
    seen_start_insert = seen_end_insert = False
    for case in range(600):
        vocab = r.choice([6, 7, 30])  # 6: a single non-special id, so REPLACE cannot change the token
        diff = EditDiffusion(random_config(r), vocab_size=vocab)
        x = random_ids(r, 15, vocab - 5)
        x_t, rev = diff.corrupt_step(x, r)
        assert apply_edits(x_t, rev) == x, (case, x, x_t, rev)
        assert rev.source_length == len(x_t) and rev.target_length == len(x)
        assert rev.cost >= levenshtein(x_t, x)
        assert all(5 <= i < vocab for i in x_t)  # specials are never written
        seen_start_insert |= len(x_t) > 0 and rev.tags[1] == DEL  # forward insert at 0
        seen_end_insert |= len(x_t) > 0 and rev.tags[-1] == DEL
        for k, (tag, span) in enumerate(zip(rev.tags[1:], rev.spans[1:])):
            if tag == REP:
                assert span[0] != x_t[k]
    assert seen_start_insert and seen_end_insert


def test_trajectory_chains_reverse_edits():
    r = random.Random(2)
    for _ in range(100):
        diff = EditDiffusion(random_config(r), vocab_size=40)
        x0 = random_ids(r, 12, 35)
        states, reverse = diff.trajectory(x0, r, steps=5)
        assert states[0] == x0 and len(states) == 6 and len(reverse) == 5
        for t in range(1, 6):
            assert apply_edits(states[t], reverse[t - 1]) == states[t - 1]
    assert len(EditDiffusion(EditDiffusionConfig(steps=3), 40).trajectory([5, 6], 0)[0]) == 4


def test_all_keep_is_identity():
    diff = EditDiffusion(EditDiffusionConfig(p_keep=1.0, p_replace=0.0, p_insert=0.0, p_delete=0.0), vocab_size=50)
    r = random.Random(3)
    for _ in range(200):
        x = random_ids(r, 20, 45)
        states, reverse = diff.trajectory(x, r, steps=4)
        assert all(s == x for s in states)
        assert all(e == EditScript.keep_all(len(x)) for e in reverse)


def test_empty_sequence_corruption():
    keep = EditDiffusion(EditDiffusionConfig(p_keep=1.0, p_replace=0.0, p_insert=0.0, p_delete=0.0), vocab_size=50)
    assert keep.corrupt_step([], 0) == ([], EditScript.keep_all(0))
    grow = EditDiffusion(EditDiffusionConfig(p_keep=0.0, p_replace=0.0, p_insert=1.0, p_delete=0.0), vocab_size=50)
    x_t, rev = grow.corrupt_step([], 0)
    assert len(x_t) >= 1 and rev.tags == (KEEP,) + (DEL,) * len(x_t) and apply_edits(x_t, rev) == []
    shrink = EditDiffusion(EditDiffusionConfig(p_keep=0.0, p_replace=0.0, p_insert=0.0, p_delete=1.0), vocab_size=50)
    assert shrink.corrupt_step([5, 6, 7], 0) == ([], EditScript((INS,), ((5, 6, 7),)))


@pytest.mark.parametrize("probs", [(0.6, 0.2, 0.1, 0.1), (0.5, 0.2, 0.1, 0.2)])
def test_edit_type_frequencies_match_config(probs):
    """With spans of length 1 each decision touches one token, so the reverse edits count the decisions:
    forward REPLACE → a REPLACE tag, INSERT → a DELETE tag (plus the token it keeps), DELETE → one id in an
    inserted span, KEEP → the kept tokens not explained by INSERT."""
    cfg = EditDiffusionConfig(*probs, span="uniform", max_span=1)  # keep, replace, insert, delete
    diff = EditDiffusion(cfg, vocab_size=1000)
    n = 20000
    _, rev = diff.corrupt_step([5 + i % 900 for i in range(n)], random.Random(4))
    tags = rev.tags[1:]
    replace, insert = tags.count(REP), tags.count(DEL)
    delete = sum(len(s) - (t == REP) for t, s in zip(rev.tags, rev.spans) if t in (REP, INS))
    keep = tags.count(KEEP) + tags.count(INS) - insert
    total = keep + replace + insert + delete  # n decisions, plus the end one when it inserts
    freq = [keep / total, replace / total, insert / total, delete / total]
    assert freq == pytest.approx(list(probs), abs=0.015)


def test_span_length_distributions():
    """An empty sequence with p_insert = 1 gets exactly one insertion: its length is one draw from E_l."""
    r = random.Random(5)
    ins = {"p_keep": 0.0, "p_replace": 0.0, "p_insert": 1.0, "p_delete": 0.0}
    pois = EditDiffusion(EditDiffusionConfig(**ins, span_lambda=3.0), vocab_size=50)
    lengths = [len(pois.corrupt_step([], r)[0]) for _ in range(4000)]
    assert min(lengths) == 1
    assert sum(lengths) / len(lengths) == pytest.approx(3.0 + 2.718281828 ** -3, abs=0.1)  # E[max(1, Poisson(3))]
    clip = EditDiffusion(EditDiffusionConfig(**ins, span_lambda=8.0, max_span=4), vocab_size=50)
    assert max(len(clip.corrupt_step([], r)[0]) for _ in range(300)) == 4
    uni = EditDiffusion(EditDiffusionConfig(**ins, span="uniform", max_span=3), vocab_size=50)
    lengths = [len(uni.corrupt_step([], r)[0]) for _ in range(3000)]
    assert [lengths.count(k) / 3000 for k in (1, 2, 3)] == pytest.approx([1 / 3] * 3, abs=0.04)


def test_unigram_token_distribution():
    w = [0.0] * 20
    w[0] = 100.0  # PAD's weight is ignored: specials are never written
    w[7], w[9] = 1.0, 3.0
    cfg = EditDiffusionConfig(p_keep=0.0, p_replace=0.0, p_insert=1.0, p_delete=0.0, tokens="unigram")
    diff = EditDiffusion(cfg, vocab_size=20, unigram=torch.tensor(w))
    ids = [i for _ in range(500) for i in diff.corrupt_step([], random.Random(_))[0]]
    assert set(ids) == {7, 9} and ids.count(9) / len(ids) == pytest.approx(0.75, abs=0.05)


def test_seeding():
    diff = EditDiffusion(EditDiffusionConfig(), vocab_size=100)
    x0 = list(range(5, 40))
    assert diff.trajectory(x0, 7) == diff.trajectory(x0, 7) == diff.trajectory(x0, random.Random(7))
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert diff.trajectory(x0, g1) == diff.trajectory(x0, g2)
    assert diff.trajectory(x0, g1) != diff.trajectory(x0, torch.Generator().manual_seed(2))
    assert diff.corrupt_step(torch.tensor(x0), 3) == diff.corrupt_step(x0, 3)  # tensors are accepted
    with pytest.raises(SamplingError):
        diff.corrupt_step(x0, "seed")  # type: ignore[arg-type]
    with pytest.raises(SamplingError):
        diff.trajectory(x0, 0, steps=-1)


@pytest.mark.parametrize("kw", [
    {"p_keep": 0.5},  # sums to 0.9
    {"p_keep": 0.7, "p_replace": 0.2, "p_insert": 0.2, "p_delete": -0.1},  # negative
    {"span_lambda": -1.0},
    {"span_lambda": float("nan")},
    {"span": "uniform"},  # needs max_span
    {"max_span": 0},
    {"steps": 0},
    {"span": "geometric"},
])
def test_bad_config_raises(kw):
    with pytest.raises(ConfigError) as e:
        EditDiffusionConfig(**kw)
    assert e.value.hint


def test_bad_config_from_dict_and_token_distribution():
    with pytest.raises(ConfigError):
        from_dict(EditDiffusionConfig, {"p_keep": 0.3})
    assert from_dict(EditDiffusionConfig, {"span": "uniform", "max_span": 2}).max_span == 2
    with pytest.raises(ConfigError):
        EditDiffusion(EditDiffusionConfig(tokens="unigram"), vocab_size=20)  # weights missing
    with pytest.raises(ConfigError):
        EditDiffusion(EditDiffusionConfig(tokens="unigram"), vocab_size=20, unigram=[1.0] * 19)
    with pytest.raises(ConfigError):
        EditDiffusion(EditDiffusionConfig(tokens="unigram"), vocab_size=20, unigram=[1.0] * 5 + [0.0] * 15)
    with pytest.raises(ConfigError):
        EditDiffusion(EditDiffusionConfig(), vocab_size=20, unigram=[1.0] * 20)  # ignored silently otherwise
    with pytest.raises(ConfigError):
        EditDiffusion(EditDiffusionConfig(), vocab_size=5)  # specials only
