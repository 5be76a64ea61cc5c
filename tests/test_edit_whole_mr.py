"""The edit backend on many check-only leaves at once (a whole MR): every leaf counts in full in the ranking, more
drafts, phrases placed in a draft by insertion or replacement, and proposals only for the leaves a text misses.
Tiny untrained models (no data); the measured effect is in ``recipes/mr_describe.py``."""

from __future__ import annotations

import pytest
from edit_support import HasWord, tiny_edit_generator

import ctrlgen.backends.edit.generator as edit_generator
from ctrlgen.backends.edit.generator import DRAFTS, DiffusERGenerator
from ctrlgen.backends.edit.guides import leaf_scale
from ctrlgen.backends.edit.sampler import EditSampler
from ctrlgen.backends.edit.start import insert_phrases
from ctrlgen.constraints.composition import prepare
from ctrlgen.text.tokenizer import Tokenizer, split_words

SEQ_LEN = 20


@pytest.fixture(scope="module")
def tok(tiny_texts) -> Tokenizer:
    return Tokenizer.train(tiny_texts, min_count=1)


@pytest.fixture(scope="module")
def gen(tmp_path_factory, tok) -> DiffusERGenerator:
    return tiny_edit_generator(tmp_path_factory.mktemp("whole_mr"), tok, SEQ_LEN)


def test_leaf_scale_makes_each_leaf_worth_a_lone_constraint(tok):
    def scale(c: object) -> float:
        return leaf_scale(prepare(c, tok, SEQ_LEN, "edit"))

    assert leaf_scale(None) == 1.0
    assert scale(HasWord("pub")) == 1.0
    assert scale(HasWord("pub") & HasWord("Mill") & HasWord("cheap")) == 3.0
    assert scale(2.0 * HasWord("pub") & HasWord("Mill")) == 3.0  # total weight over the smallest


def test_a_placed_phrase_may_replace_draft_words(tok):
    v = tok.vocab
    row, shop = v.ids(split_words("The Mill is a pub .")), v.ids(["coffee", "shop"])

    def no_pub(rows: list[list[int]]) -> list[float]:
        return [float(v.id("pub") not in r and shop[0] in r) for r in rows]

    (out,), (where,) = insert_phrases([row], [shop], limit=18, score=no_pub, replace=2)
    assert v.words_of(out) == split_words("The Mill is a coffee shop .") and where == {5, 6}
    (out,), _ = insert_phrases([row], [shop], limit=18, score=lambda rows: [0.0] * len(rows), replace=2)
    assert v.words_of(out) == split_words("coffee shop The Mill is a pub .")  # ties: an insertion, the earliest
    (out,), _ = insert_phrases([row], [shop], limit=18, replace=2)  # no score: insertion at the end, as before
    assert v.words_of(out) == split_words("The Mill is a pub . coffee shop")


def test_a_later_phrase_never_replaces_an_earlier_one(tok):
    v = tok.vocab
    row, mill, blue = v.ids(split_words("is a pub .")), [v.id("Mill")], v.ids(["Blue", "Door"])

    def no_mill_first(rows: list[list[int]]) -> list[float]:  # would like to overwrite "Mill" with "Blue Door"
        return [float(r[:1] != mill) + float(blue[0] in r) for r in rows]

    (out,), (where,) = insert_phrases([row], [mill, blue], limit=18, score=no_mill_first, replace=3)
    assert v.id("Mill") in out and v.id("Blue") in out
    assert sorted(out[p - 1] for p in where) == sorted(mill + blue)


def test_proposals_write_only_the_phrases_of_missing_leaves(gen, tok):
    a, b = HasWord("pub"), HasWord("Mill")
    both = gen.prepare(a & b)
    every = gen.phrases(both)
    needed = gen.phrases_for(both)
    assert callable(needed) and not callable(gen.phrases_for(gen.prepare(a)))  # one leaf: the list itself
    only_b = gen.phrases(gen.prepare(b))
    row = tok.vocab.ids(split_words("The pub is cheap ."))
    assert only_b and len(every) > len(only_b)  # the probes found phrases for both leaves
    assert needed(row) == only_b and set(map(tuple, only_b)) <= set(map(tuple, every))
    assert needed(tok.vocab.ids(split_words("The Mill is a pub ."))) == []


def test_many_leaves_weigh_more_and_draw_more_drafts(gen, monkeypatch):
    seen: dict[str, list] = {"weight": [], "drafts": []}
    sample, drafts = EditSampler.sample, edit_generator.draft_starts

    def spy_sample(self, *args, **kw):
        seen["weight"].append(self.rank_weight)
        return sample(self, *args, **kw)

    def spy_drafts(ar, n, per_sample, *args, **kw):
        seen["drafts"].append(per_sample)
        return drafts(ar, n, per_sample, *args, **kw)

    monkeypatch.setattr(EditSampler, "sample", spy_sample)
    monkeypatch.setattr(edit_generator, "draft_starts", spy_drafts)
    base = edit_generator.DEFAULT_SAMPLER.rank_weight
    gen.generate(n=1, steps=1, seed=0, constraints=HasWord("pub"))
    gen.generate(n=1, steps=1, seed=0, constraints=HasWord("pub") & HasWord("Mill") & HasWord("cheap"))
    many = [HasWord(w) for w in ("pub", "Mill", "cheap", "Italian", "near")]
    gen.generate(n=1, steps=1, seed=0, constraints=many)
    assert seen["weight"] == [base, 3 * base, 5 * base]
    assert seen["drafts"] == [DRAFTS, 3 * DRAFTS, edit_generator.DRAFT_LEAVES * DRAFTS]
