"""Pattern proposals of the edit backend (``ctrlgen.backends.edit.pattern``) on tiny untrained models, with a
context-free stand-in labeller (no spaCy): lexicons, proposals that meet the labels, protection, the draft mask,
masked AR drafts, and ``generate`` end to end."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import pytest
import torch
from edit_support import tiny_edit_generator

from ctrlgen.backends.edit.generator import DiffusERGenerator
from ctrlgen.backends.edit.joint import words_of
from ctrlgen.backends.edit.ops import slot_policy
from ctrlgen.backends.edit.pattern import PatternProposer
from ctrlgen.constraints.base import Constraint, WordLabelled
from ctrlgen.core.lexicon import build_lexicon
from ctrlgen.errors import SamplingError
from ctrlgen.text.tokenizer import Tokenizer, split_words

SEQ_LEN = 20


def shape(word: str) -> str:
    """The stand-in labeller: CAP (capitalised), NUM, DOT (punctuation) or LOW — the same in every context."""
    return "CAP" if word[:1].isupper() else "NUM" if word[:1].isdigit() else "LOW" if word[:1].isalpha() else "DOT"


class Shapes(Constraint):
    """A check-only per-word label constraint over :func:`shape` (stands in for POS)."""

    faces: ClassVar[frozenset[str]] = frozenset({"check"})

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = tuple(labels)

    @property
    def word_labels(self) -> tuple[str, ...]:
        return self.labels

    def label_words(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        return [[shape(w) for w in s] for s in sentences]

    def satisfied(self, texts: Sequence[str]) -> list[bool]:
        return [tuple(shape(w) for w in split_words(t)) == self.labels for t in texts]

    def __repr__(self) -> str:
        return f"Shapes({','.join(self.labels)!r})"


@pytest.fixture(scope="module")
def tok(tiny_texts) -> Tokenizer:
    return Tokenizer.train(tiny_texts, min_count=1)


@pytest.fixture(scope="module")
def gen(tmp_path_factory, tok) -> DiffusERGenerator:
    return tiny_edit_generator(tmp_path_factory.mktemp("pattern"), tok, SEQ_LEN)


def ids_of(tok: Tokenizer, text: str) -> list[int]:
    return tok.vocab.ids(split_words(text))


def test_stand_in_is_word_labelled():
    assert isinstance(Shapes(["CAP"]), WordLabelled)


def test_lexicon_keeps_the_labels_words_carry(tok):
    rows = [split_words("The Mill is a pub near the river ."), split_words("Blue Door serves 5 dishes .")]
    lex = build_lexicon(Shapes(["CAP"]), rows, tok.vocab)
    words = {label: {tok.vocab.word(i) for i in torch.nonzero(m).flatten().tolist()} for label, m in lex.items()}
    assert words["CAP"] == {"The", "Mill", "Blue", "Door"} and words["NUM"] == {"5"} and words["DOT"] == {"."}
    assert "pub" in words["LOW"] and "Mill" not in words["LOW"]


@pytest.mark.parametrize("text", ["The Mill is a pub .", "pub pub", "The Mill is near Blue Door and serves a pub ."])
def test_proposals_meet_a_context_free_pattern(gen, tok, text):
    target = Shapes(["CAP", "CAP", "LOW", "LOW", "NUM", "DOT"])
    rows = [split_words(t) for t in tok_texts()]
    proposer = PatternProposer([target], [build_lexicon(target, rows, tok.vocab)], gen.model.generator, tok.vocab,
                               torch.device("cpu"), width=3)
    row = ids_of(tok, text)
    flags = [False] * (len(row) + 1)
    cands = proposer([row], [flags], [slot_policy(len(row), flags, None)], 1.0)[0]
    assert 1 <= len(cands) <= 3
    for c in cands:
        assert [shape(tok.vocab.word(i)) for i in c.ids] == list(target.labels)
        assert c.proposal and len(c.protected) == len(c.ids) + 1
        from ctrlgen.backends.edit.edits import apply_edits

        assert apply_edits(row, c.edits) == list(c.ids)


def tok_texts() -> list[str]:
    return ["The Mill is a pub near the river .", "Blue Door serves 5 dishes .", "Green Man has 3 stars ."]


def test_no_proposal_for_a_match_or_against_protection(gen, tok):
    target = Shapes(["CAP", "LOW", "DOT"])
    lex = build_lexicon(target, [split_words(t) for t in tok_texts()], tok.vocab)
    proposer = PatternProposer([target], [lex], gen.model.generator, tok.vocab, torch.device("cpu"))
    done, off = ids_of(tok, "The pub ."), ids_of(tok, "The Mill .")
    free, held = [False] * 4, [False, False, True, False]  # word 2 ("Mill") protected: it must not be replaced
    out = proposer([done, off, off], [free, free, held], [slot_policy(3, f, None) for f in (free, free, held)], 1.0)
    assert out[0] == [] and out[1] and out[2] == []


def test_draft_mask_and_masked_ar_drafts(gen, tok):
    target = Shapes(["CAP", "LOW", "NUM", "DOT"])
    lex = build_lexicon(target, [split_words(t) for t in tok_texts()], tok.vocab)
    proposer = PatternProposer([target], [lex], gen.model.generator, tok.vocab, torch.device("cpu"))
    mask = proposer.draft_mask(SEQ_LEN)
    assert mask.shape == (SEQ_LEN, len(tok)) and mask[5].tolist() == [i == tok.vocab.end_id for i in range(len(tok))]
    rows = gen.draft().sample(6, generator=torch.Generator().manual_seed(1), allowed=mask)
    for r in rows:
        assert [shape(tok.vocab.word(i)) for i in words_of(r)] == list(target.labels)
    with pytest.raises(SamplingError, match="allowed must be a BoolTensor"):
        gen.draft().sample(2, allowed=mask[:3])
    empty = mask.clone()
    empty[2] = False
    with pytest.raises(SamplingError, match="no usable id at position 2"):
        gen.draft().sample(2, allowed=empty)
    assert PatternProposer([target, Shapes(["CAP"])], [lex, lex], gen.model.generator, tok.vocab,
                           torch.device("cpu")).draft_mask(SEQ_LEN) is None  # two lengths: no mask


def test_generate_reaches_the_pattern(gen):
    target = Shapes(["CAP", "CAP", "LOW", "LOW", "DOT"])
    out = gen.generate(n=2, constraints=target, seed=0, drafts=4)
    assert out.report["satisfied"] == [True, True]
    assert gen.generate(n=2, constraints=target, seed=0, drafts=4).texts == out.texts  # seeded


def test_pattern_leaves_get_no_phrases(gen):
    assert gen.phrases(gen.prepare(Shapes(["CAP", "DOT"]))) == []
    assert isinstance(gen.proposer(gen.prepare(Shapes(["CAP", "DOT"]))), PatternProposer)
    assert gen.proposer(None) is None



def test_a_labeller_that_miscounts_is_a_clear_error(gen, tok):
    class Split(Shapes):
        def label_words(self, sentences):
            return [[shape(w) for w in s] + ["DOT"] for s in sentences]  # one label too many

    from ctrlgen.constraints.base import ConstraintError

    with pytest.raises(ConstraintError, match="sentence 0 has 2 words but 3 labels"):
        build_lexicon(Split(["CAP"]), [split_words("The Mill")], tok.vocab)


def test_sampler_takes_propose_candidates_without_local_explore(gen, tok):
    """The sampler's ``propose`` hook alone (explore=False) carries a text below its check to the pattern."""
    from ctrlgen.backends.edit.sampler import EditSampler

    target = Shapes(["CAP", "LOW", "LOW", "DOT"])
    lex = build_lexicon(target, [split_words(t) for t in tok_texts()], tok.vocab)
    proposer = PatternProposer([target], [lex], gen.model.generator, tok.vocab, torch.device("cpu"))

    def rank(rows):
        return [float(s) for s in target.satisfied([tok.detokenize([tok.vocab.word(i) for i in r]) for r in rows])]

    start = ids_of(tok, "The Mill is .")  # CAP CAP LOW DOT: one label off
    sampler = EditSampler(explore=False, max_steps=3)
    out = sampler.sample(gen.model.tagger, gen.model.generator, [start], 2, rank=rank, propose=proposer)
    assert [shape(tok.vocab.word(i)) for i in out.ids[0]] == list(target.labels)
    plain = sampler.sample(gen.model.tagger, gen.model.generator, [start], 2, rank=rank)
    assert [shape(tok.vocab.word(i)) for i in plain.ids[0]] != list(target.labels)  # no hook, no proposals


def test_a_spans_target_gets_the_explore_budget_and_nothing_else_does(gen):
    """A ``SyntaxSpans`` check is a parse per proposal: its local edits are check-scored 48 at most per text and
    step; other constraints keep every proposal (their search is unchanged)."""
    from ctrlgen import Contains, SyntaxSpans
    from ctrlgen.backends.edit.guides import SPANS_EXPLORE_BUDGET, explore_budget

    spans = SyntaxSpans(((0, 2, "NP"),))
    assert explore_budget(gen.prepare(spans)) == SPANS_EXPLORE_BUDGET == 48
    assert explore_budget(gen.prepare(spans & Contains("pub"))) == 48
    assert explore_budget(gen.prepare(Contains("pub"))) is None
    assert explore_budget(gen.prepare(Shapes(["CAP"]))) is None and explore_budget(None) is None


def test_generate_hands_the_spans_budget_to_the_sampler(gen, monkeypatch):
    """The generator passes :func:`explore_budget` on to the revision loop (a stand-in spans check: no parser)."""
    from dataclasses import dataclass

    from ctrlgen import Contains, SyntaxSpans
    from ctrlgen.backends.edit.sampler import EditSampler

    @dataclass(frozen=True, repr=False)
    class CheapSpans(SyntaxSpans):
        def judge(self, texts):
            return [False] * len(texts), [0.5] * len(texts)

        def score(self, texts):
            return [0.5] * len(texts)

        def satisfied(self, texts):
            return [False] * len(texts)

    seen = []

    class Stop(Exception):
        pass

    def sample(self, *args, **kwargs):
        seen.append(self.explore_budget)
        raise Stop

    monkeypatch.setattr(EditSampler, "sample", sample)
    for constraint, budget in ((CheapSpans(((0, 1, "NP"),)), 48), (Contains("pub"), None)):
        with pytest.raises(Stop):
            gen.generate(n=1, steps=2, seed=0, constraints=constraint)
        assert seen[-1] == budget
