"""Word-level constraints on a subword (BPE) model (issue 15, item 2): the layout runs, the hole-length search scored by
the backend, exact conditioning, checks that count words, and the refusals (ctrlgen.core.placement,
ctrlgen.text.alignment.subword_runs)."""

from __future__ import annotations

import math

import pytest
import torch
from subword_support import RARE, pieces, tiny_bpe

from ctrlgen.backends.discrete.diffusion import (
    DiscreteDiffusion,
    DiscreteDiffusionConfig,
)
from ctrlgen.backends.discrete.generator import DiscreteGenerator
from ctrlgen.backends.discrete.model import ScoreModel, ScoreModelConfig
from ctrlgen.constraints import (
    POS,
    Contains,
    FixedTokens,
    Infill,
    Length,
    Prefix,
    Suffix,
    SyntaxSpans,
    prepare,
)
from ctrlgen.constraints.base import ConstraintError, UnsupportedConstraintError
from ctrlgen.core import placement, subword_layout
from ctrlgen.core.subword_layout import (
    Hole,
    hole_bans,
    length_logp,
    search_runs,
    word_pieces,
)
from ctrlgen.errors import ConstraintConflictError
from ctrlgen.registry import CHECK, HARD, SOFT_EMBEDDING, BackendSpec
from ctrlgen.text.alignment import Run, subword_runs, words_of
from ctrlgen.text.bpe import BPETokenizer
from ctrlgen.text.tokenizer import split_words


@pytest.fixture(scope="module")
def bpe() -> BPETokenizer:
    return tiny_bpe()


@pytest.fixture(scope="module")
def gen(bpe) -> DiscreteGenerator:
    torch.manual_seed(0)
    m = ScoreModel(ScoreModelConfig(vocab_size=len(bpe), seq_len=40, hidden=32, layers=2, heads=2, dropout=0.0))
    torch.nn.init.normal_(m.head.weight, std=0.5)
    diffusion = DiscreteDiffusion.from_config(DiscreteDiffusionConfig(), len(bpe), bpe.vocab.mask_id)
    return DiscreteGenerator(m.eval(), bpe, diffusion)


def _starts_a_word(rest: str) -> bool:
    """What follows a fixed word: nothing, whitespace, a closer, or a character spaCy splits off before a letter."""
    return not rest or rest[0].isspace() or rest[0] in ".,!?;:'\")" or split_words(f"pub{rest[0]}x")[:1] == ["pub"]


def _holds(out, placed_rows):
    """Every output row carries its sample's placed tokens unchanged."""
    for row, spec in zip(out.tokens.tolist(), placed_rows, strict=True):
        assert all(row[p] == i for p, i in spec.positions.items())


# ------------------------------------------------------------------------------------------- the runs
def test_runs_encode_fixed_words_exactly_with_their_spacing(bpe):
    words, n = Infill(f"{RARE} is a [MASK:3] pub near {RARE}ut .").layout()
    runs = subword_runs(bpe, words, n, Infill(f"{RARE} is a [MASK:3] pub near {RARE}ut .").space_before())
    assert [r.hole for r in runs] == [0, 3, 0]
    assert list(runs[0].ids) == pieces(bpe, f"{RARE} is a") and len(runs[0].ids) > 3  # multi-subword first word
    assert list(runs[1].ids) == pieces(bpe, f" pub near {RARE}ut .")  # leading space: the hole ends a word
    assert runs[2] == Run(0, (bpe.vocab.end_id,))
    c = Infill("The [MASK]-friendly [MASK:2], café 😀[MASK]")  # holes next to punctuation, no space after a hole
    runs = subword_runs(bpe, *c.layout(), c.space_before())
    assert [bpe.detokenize(bpe.vocab.words_of(r.ids)) for r in runs] == ["The", "-friendly", ", café 😀", "[END]"]
    assert [r.hole for r in runs] == [0, 1, 2, 1]
    assert subword_runs(bpe, {}, 4) == [Run(4, (bpe.vocab.end_id,))]  # Length(4)
    s = Suffix(f"near {RARE} .", length=6)
    assert [(r.hole, bpe.detokenize(bpe.vocab.words_of(r.ids))) for r in subword_runs(bpe, *s.layout(),
                                                                                    s.space_before())] == \
        [(3, f" near {RARE} ."), (0, "[END]")]


def test_search_follows_the_score_and_the_length_prior_and_respects_room(bpe):
    runs = [Run(0, (10, 11)), Run(2, (12,)), Run(1, (bpe.vocab.end_id,))]
    calls = []

    def score(taken, starts, ids):  # prefers the 12 right after a 4-token hole and [END] after a 1-token hole
        calls.append((dict(taken), list(starts), tuple(ids)))
        want = 7 if ids == (12,) else None
        return torch.tensor([5.0 if want is not None and s == want else 0.0 for s in starts])

    found = search_runs(runs, {0: 1}, 16, score, end_fixed=True, q=0.1)
    assert len(found) == 5 * 3  # holes of 2..6 and 1..3 subwords: every combination
    best = found[0]
    assert best.positions[7] == 12 and best.holes == (Hole(3, 4, 2), Hole(8, 1, 1))
    assert best.logp == pytest.approx(5.0 + length_logp(4, 2, 0.1) + length_logp(1, 1, 0.1))  # score + prior
    assert calls[0] == ({0: 1, 1: 10, 2: 11}, [5, 6, 7, 8, 9], (12,))  # scored given [START] and the run before
    weak = search_runs(runs, {0: 1}, 16, lambda t, s, i: score(t, s, i) / 5, end_fixed=True, q=0.1)
    assert weak[0].positions[5] == 12  # a score of 1 nat does not buy two extra subwords: the prior wins
    exact = search_runs(runs, {0: 1}, 16, score, end_fixed=True, q=0.0)  # one subword a word: nothing to choose
    assert [(f.positions, f.holes) for f in exact] == [({1: 10, 2: 11, 5: 12, 7: bpe.vocab.end_id},
                                                        (Hole(3, 2, 2), Hole(6, 1, 1)))]
    with pytest.raises(ConstraintError, match="do not fit"):
        search_runs(runs, {0: 1}, 6, score, end_fixed=True)


@pytest.mark.parametrize("k", [1, 2, 5])
def test_length_prior_is_a_distribution_over_subword_counts(k):
    total = sum(math.exp(length_logp(m, k, 0.1)) for m in range(k, k + 200))
    assert total == pytest.approx(1.0) and length_logp(k - 1, k, 0.1) == -math.inf
    assert length_logp(k, k, 0.0) == 0.0 and length_logp(k + 1, k, 0.0) == -math.inf


def test_hole_bans_split_a_hole_into_its_words(bpe):
    pieces, vocab = word_pieces(bpe), bpe.vocab
    the, s_ = bpe.encode(" the")[1], vocab.id("s")
    assert the not in pieces.start[0] and the in pieces.cont[0]  # Ġthe starts a word, never continues one
    assert s_ in pieces.start[0] and s_ not in pieces.cont[0]  # s continues a word, never starts one
    dot = vocab.id(".")
    assert dot not in pieces.start[0] and dot in pieces.start[1]  # nothing continues a "." (spaCy splits it off)
    assert all(vocab.id(t) in pieces.start[0] for t in ("[PAD]", "[END]", "[MASK]"))
    bans = hole_bans([Hole(1, 2, 2), Hole(6, 5, 2)], bpe, torch.Generator().manual_seed(0))
    assert bans[1] is pieces.first[0] and bans[2] is pieces.start[0]  # m = k: every subword a word
    kinds = ["start" if bans[p] in pieces.start else "cont" for p in range(6, 11)]
    assert kinds[0] == "start" and kinds.count("start") == 2  # exactly k word starts, the first one first
    for j, kind in enumerate(kinds):  # open (ends in a letter or digit) where a continuation follows
        assert bans[6 + j] is getattr(pieces, kind)[j + 1 < len(kinds) and kinds[j + 1] == "cont"]


# --------------------------------------------------------------------------------------- generation
@pytest.mark.parametrize("template", [f"{RARE} is a [MASK:3] pub near {RARE}ut .",  # rare words at start and end
                                      f"The [MASK:2], {RARE} [MASK]!",              # in the middle, holes by punctuation
                                      f"[MASK] Café {RARE}-friendly [MASK:2]"])      # a hole first and last
def test_infill_places_the_template_exactly_and_checks_words(gen, bpe, template):
    c = Infill(template)
    prepared = gen.prepare(c)
    assert prepared.hard is None  # placed per sample by the backend
    fixed, values, _ = gen.conditioning(prepared)
    placed = gen.place_phrases(prepared, fixed, values, 6, torch.Generator().manual_seed(0))
    out = gen.generate(n=6, steps=4, seed=0, constraints=c)
    _holds(out, placed)  # same seed: the same placements, held exactly by every row
    words, n = c.layout()
    for text, row, spec in zip(out.texts, out.tokens.tolist(), placed, strict=True):
        end = row.index(bpe.vocab.end_id)
        assert spec.positions[end] == bpe.vocab.end_id and set(row[end + 1:]) == {bpe.vocab.pad_id}
        free = [p for p in range(1, end) if p not in spec.positions]
        assert n - len(words) <= len(free) <= 3 * (n - len(words))  # each hole of k words: k … 3k subwords
        for w in template.replace("[MASK]", " ").replace("[MASK:2]", " ").replace("[MASK:3]", " ").split():
            assert w in text  # the template's characters are all there, rare words included
        got = split_words(text)
        expect = len(got) == n and all(got[p - 1] == w for p, w in words.items())
        assert out.report["constraints"][repr(c)]["scores"][out.texts.index(text)] == 1.0 or not expect
    ok = out.report["constraints"][repr(c)]["satisfied"]
    assert ok == c.satisfied(out.texts)  # the check face judges the words of the text, never the subwords


@pytest.mark.parametrize("template", [f"{RARE} is a [MASK:3] pub near {RARE}ut .", f"The [MASK:2], {RARE} [MASK]!",
                                      f"[MASK] Café {RARE}-friendly [MASK:2]"])
def test_each_hole_gets_exactly_its_words_even_from_an_untrained_model(gen, template, monkeypatch):
    """The word-boundary bans (core.subword_layout.hole_bans): a random network fills the holes of k words with k
    words (one sample in eight may meet spaCy's ``a`` + ``.`` = ``a.``, which static bans cannot see); without them
    it does not."""
    c = Infill(template)
    out = gen.generate(n=8, steps=4, seed=0, constraints=c)
    exact = sum(x == 1.0 for x in c.score(out.texts))  # the layout: every fixed word at its word position
    assert exact >= 7 and out.report["constraints"][repr(c)]["scores"] == c.score(out.texts)
    monkeypatch.setattr(placement, "hole_bans", lambda holes, tokenizer, generator: {})
    assert sum(x == 1.0 for x in c.score(gen.generate(n=8, steps=4, seed=0, constraints=c).texts)) < exact


def test_length_counts_words_and_end_follows_the_model(gen, bpe, monkeypatch):
    out = gen.generate(n=8, steps=4, seed=0, constraints=Length(4))
    assert out.report["satisfied"] == [len(split_words(t)) == 4 for t in out.texts]  # never claimed when wrong
    ends = [row.index(bpe.vocab.end_id) for row in out.tokens.tolist()]
    assert ends == [5] * 8  # by default (EXTRA_SUBWORD_P = 0) a hole of 4 words is 4 whole-word subwords
    # with a length prior the END position is drawn from it and the backend's likelihood: a score that wants END at 9
    # puts it there always, and the 8 subwords still make 4 words (the word-boundary bans)
    monkeypatch.setattr(subword_layout, "EXTRA_SUBWORD_P", 0.1)
    monkeypatch.setattr(gen, "placement_score", lambda taken, starts, ids: torch.tensor(
        [60.0 if (s == 9 and ids == (bpe.vocab.end_id,)) else 0.0 for s in starts]))
    out = gen.generate(n=5, steps=3, seed=1, constraints=Length(4))
    assert (out.tokens[:, 9] == bpe.vocab.end_id).all()
    assert not (out.tokens[:, 1:9] == bpe.vocab.end_id).any() and not (out.tokens[:, 1:9] == bpe.vocab.pad_id).any()
    assert all(len(split_words(t)) == 4 for t in out.texts) and all(out.report["satisfied"])


def test_prefix_suffix_and_fixed_tokens_are_exact_subwords(gen, bpe):
    out = gen.generate(n=4, steps=4, seed=0, constraints=Prefix(f"{RARE} Café is"))
    head = pieces(bpe, f"{RARE} Café is")
    assert (out.tokens[:, 1:1 + len(head)] == torch.tensor(head)).all()
    assert all(t.startswith(f"{RARE} Café is") for t in out.texts)
    tail = pieces(bpe, f" near {RARE} .")
    out = gen.generate(n=4, steps=4, seed=0, constraints=Suffix(f"near {RARE} .", length=6))
    for row, text in zip(out.tokens.tolist(), out.texts, strict=True):
        end = row.index(bpe.vocab.end_id)
        assert row[end - len(tail):end] == tail and text.endswith(f"near {RARE} .")
    out = gen.generate(n=4, steps=3, seed=0, constraints=FixedTokens({1: "The", 3: RARE}))
    assert all(t.startswith("The") and _starts_a_word(t[3:]) and f" {RARE}" in t for t in out.texts)
    with pytest.raises(UnsupportedConstraintError, match="subword model"):
        gen.prepare(FixedTokens({1: "The", 4: "[PAD]"}))


def test_fixed_words_never_gain_letters_from_a_free_neighbour(gen, bpe):
    """After a fixed subword that ends a word, the next free token starts a new word (or ends the text)."""
    c = Contains("city centre")
    out = gen.generate(n=8, steps=4, seed=3, constraints=c)
    assert all(_starts_a_word(t.split("city centre", 1)[1]) for t in out.texts)
    assert out.report["satisfied"] == c.satisfied(out.texts)
    out = gen.generate(n=8, steps=4, seed=3, constraints=Prefix(f"The {RARE}"))
    assert all(_starts_a_word(t[len(f"The {RARE}"):]) for t in out.texts)
    assert all(split_words(t)[:2] == ["The", RARE] for t in out.texts)


def test_contains_is_a_subword_run_with_or_without_its_space(gen, bpe, monkeypatch):
    spaced, bare = pieces(bpe, f" {RARE} pub"), pieces(bpe, f"{RARE} pub")
    assert spaced != bare
    for start, ids in ((1, bare), (7, spaced)):
        monkeypatch.setattr(gen, "placement_score", lambda taken, starts, ids, start=start: torch.tensor(
            [60.0 if s == start else 0.0 for s in starts]))
        out = gen.generate(n=3, steps=3, seed=0, constraints=Contains(f"{RARE} pub"))
        assert (out.tokens[:, start:start + len(ids)] == torch.tensor(ids)).all()
        assert all(_starts_a_word(t.split(f"{RARE} pub", 1)[1]) for t in out.texts)
        assert out.report["satisfied"] == Contains(f"{RARE} pub").satisfied(out.texts)
    assert out.texts[0].split(f" {RARE} pub")[0]  # placed after other text, with its space
    monkeypatch.undo()
    out = gen.generate(n=4, steps=3, seed=0, constraints=Contains("Café") & Length(5))
    rows = out.tokens.tolist()
    assert all(any(r[s:s + 2] == pieces(bpe, " Café")[:2] or r[s:s + 2] == pieces(bpe, "Café")[:2]
                   for s in range(1, 20)) for r in rows)
    assert out.report["constraints"]["Length(5)"]["satisfied"] == [len(split_words(t)) == 5 for t in out.texts]
    out = gen.generate(n=3, steps=3, seed=0, constraints=Infill(f"[MASK:2] is a pub near {RARE}") & Contains("Zizzi"))
    assert all("Zizzi" in t and t.endswith(f" is a pub near {RARE}") for t in out.texts)


def test_requests_share_batches_with_subword_layouts(gen, bpe):
    got = {}
    gen.sample_requests([(gen.prepare(Prefix(RARE)), 2), (gen.prepare(Infill(f"The [MASK] {RARE}")), 2)],
                        on_request=lambda j, o: got.setdefault(j, o), steps=3, seed=0)
    assert all(t.startswith(RARE) for t in got[0].texts) and all(t.endswith(f" {RARE}") for t in got[1].texts)


# ------------------------------------------------------------------------------------------ refusals
def test_no_out_of_vocabulary_on_bpe_and_allow_unk_is_a_no_op(gen):
    odd = "Zoë's 😀 naïve"
    for c in (Infill(f"{odd} [MASK]"), Infill(f"{odd} [MASK]", allow_unk=True)):
        out = gen.generate(n=2, steps=3, seed=0, constraints=c)
        assert all(t.startswith(odd) for t in out.texts)  # every character kept, no [UNK]
    assert gen.prepare(Contains("Zoë 😀")).hard is None


def test_bad_input_fails_at_prepare_or_before_sampling(gen, bpe):
    with pytest.raises(ConstraintError, match="seq_len is 40"):
        gen.prepare(Infill(" ".join([RARE] * 8) + " [MASK]"))
    with pytest.raises(ConstraintConflictError, match="word 1"):
        gen.generate(n=1, steps=2, constraints=Prefix("The Mill") & Infill("Zizzi [MASK] ."))
    with pytest.raises(ConstraintConflictError, match="number of words"):
        gen.generate(n=1, steps=2, constraints=Length(5) & Suffix("pub .", length=4))
    with pytest.raises(UnsupportedConstraintError, match="subword model"):
        gen.prepare(Contains("pub", max_position=3))
    with pytest.raises(ConstraintError, match="room for"):  # 29 + 14 subwords and [END] exceed 40
        gen.generate(n=1, steps=2, constraints=Prefix(" ".join([RARE] * 5)) & Contains(f"{RARE}q {RARE}q") & Length(6))


def test_word_level_only_backends_and_word_labelling_soft_faces_refuse_subword_models(bpe):
    with pytest.raises(UnsupportedConstraintError, match="word-level models only") as e:
        prepare(Length(3), bpe, 16, "edit")
    assert "discrete" in e.value.hint
    assert prepare([], bpe, 16, "edit").hard is None  # no constraint: nothing to refuse
    soft = BackendSpec(name="soft-test", faces=frozenset({HARD, SOFT_EMBEDDING, CHECK}))
    for c in (POS(["PROPN", "AUX"]), SyntaxSpans([(0, 1, "NP")])):
        with pytest.raises(UnsupportedConstraintError, match="subword models do not serve it yet"):
            prepare(c, bpe, 16, soft)


def test_alignment_of_an_output_matches_the_check(gen, bpe):
    """The words the check face counts are the alignment's words of the output ids."""
    out = gen.generate(n=4, steps=3, seed=0, constraints=Infill(f"{RARE} [MASK:2] pub ."))
    for row, text in zip(out.tokens.tolist(), out.texts, strict=True):
        assert [w.text for w in words_of(bpe, row)] == split_words(text)
