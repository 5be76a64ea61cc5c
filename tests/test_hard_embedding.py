"""Hard constraints on the embedding backend: fixed positions never change."""

import pytest
import torch

from ctrlgen import ConstraintConflictError, Infill, Length
from ctrlgen.backends.embedding.generator import EmbeddingGenerator
from ctrlgen.core.mbr import mbr_scores
from ctrlgen.oracles.wellformed import well_formed
from ctrlgen.text.tokenizer import split_words


@pytest.fixture
def gen(tiny_model, tokenizer, diffusion):
    return EmbeddingGenerator(tiny_model, tokenizer, diffusion)


def test_infill_positions_fixed_through_trajectory(gen, tokenizer):
    template = "The Mill is a [MASK:2] pub near [MASK] ."
    out = gen.generate(n=5, steps=6, seed=1, constraints=Infill(template), return_trajectory=True)
    fixed = {1: "The", 2: "Mill", 3: "is", 4: "a", 7: "pub", 8: "near", 10: "."}
    v = tokenizer.vocab
    for pos, word in fixed.items():
        assert (out.tokens[:, pos] == v.id(word)).all()
    assert (out.tokens[:, 11] == v.end_id).all() and (out.tokens[:, 12:] == v.pad_id).all()
    for step_texts in out.trajectory:
        for text in step_texts:
            w = split_words(text)
            assert w[:4] == ["The", "Mill", "is", "a"] and w[6:8] == ["pub", "near"] and w[-1] == "."
    # every template word is in place; "satisfied" is the strict fill check (a tiny model need not pass it), so it
    # is what the constraint says of each text, and never claimed for a fragment or an unattested word pair
    assert out.report["constraints"][repr(Infill(template))]["scores"] == [1.0] * 5
    assert out.report["satisfied"] == Infill(template).satisfied(out.texts)
    assert all(well_formed(t) and not Infill(template).unseen_pairs(t)
               for t, ok in zip(out.texts, out.report["satisfied"], strict=True) if ok)


def test_length_gives_words_then_end(gen, tokenizer):
    out = gen.generate(n=6, steps=5, seed=0, constraints=Length(7))
    v = tokenizer.vocab
    assert (out.tokens[:, 8] == v.end_id).all()
    specials = torch.tensor([v.pad_id, v.start_id, v.end_id, v.mask_id])
    assert not torch.isin(out.tokens[:, 1:8], specials).any()
    assert all(len(split_words(t)) == 7 for t in out.texts) and all(out.report["satisfied"])
    assert all(out.report["well_formed"])


def test_mask_and_unk_are_never_generated(gen, tokenizer):
    out = gen.generate(n=8, steps=5, seed=3)
    assert not torch.isin(out.tokens, torch.tensor([tokenizer.vocab.mask_id, tokenizer.vocab.unk_id])).any()


def test_conflicts_raise_before_sampling(gen):
    with pytest.raises(ConstraintConflictError):
        gen.generate(n=1, steps=3, constraints=Length(3) & Infill("The Mill is a [MASK:4] pub ."))


def test_infill_orders_by_mbr(gen):
    out = gen.infill("The Mill is a [MASK:2] pub .", n=4, steps=4, seed=0)
    assert out.report["mbr"] == sorted(out.report["mbr"], reverse=True)
    assert all(t.startswith("The Mill is a") for t in out.texts)


def test_mbr_scores():
    s = mbr_scores(["a b c d", "a b c d", "x y z w"])
    assert s[0] == s[1] > s[2]
    assert mbr_scores(["only"]) == [1.0]


def test_no_fixed_positions_is_a_no_op(gen, tiny_model):
    """Without hard constraints the per-step overwrite is skipped (and would change nothing)."""
    fixed = gen._fixed(None)
    assert not fixed.active
    x = torch.randn(2, tiny_model.config.seq_len, tiny_model.config.embed_dim)
    assert fixed.apply(x) is x


def test_allow_unk_words_come_back_in_the_text(gen, tokenizer):
    """A word outside the vocabulary fixed with allow_unk=True is sampled as [UNK] but decoded as written."""
    assert "Zanzibar" not in tokenizer.vocab
    out = gen.generate(n=3, steps=4, seed=0, constraints=Infill("The Mill is near Zanzibar [MASK:2] .", allow_unk=True))
    assert (out.tokens[:, 5] == tokenizer.vocab.unk_id).all()
    assert all(t.startswith("The Mill is near Zanzibar") for t in out.texts)
