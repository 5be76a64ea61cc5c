"""`Contains` placed by the backends: discrete and embedding placement, the classifier-free soft face, the edit
backend's insertion start (the constraint itself and its math: ``tests/test_contains.py``)."""

import math

import pytest
import torch

from ctrlgen.constraints import Contains, Length, Prefix
from ctrlgen.constraints.base import ConstraintError
from ctrlgen.constraints.phrase_math import (
    phrases_log_prob,
)
from ctrlgen.text.tokenizer import split_words


# ------------------------------------------------------------------------------- placement (discrete)
@pytest.fixture
def gen(sedd_gen):  # conftest: a tiny SEDD model over the tiny vocabulary
    return sedd_gen


def _starts(texts, phrase):
    w = split_words(phrase)
    return [next(k + 1 for k in range(len(t)) if t[k:k + len(w)] == w) for t in map(split_words, texts)]


def test_every_sample_contains_the_phrase_and_placements_vary(gen):
    out = gen.generate(n=12, steps=6, seed=0, constraints=Contains("coffee shop"))
    assert out.report["satisfied"] == [True] * 12 and all("coffee shop" in t for t in out.texts)
    v = gen.tokenizer.vocab
    for row in out.tokens.tolist():  # only words up to the phrase (an END before it would cut it off)
        end = row.index(v.id("shop"))
        assert not {v.end_id, v.pad_id, v.start_id} & set(row[1:end])
    assert len(set(_starts(out.texts, "coffee shop"))) >= 3  # sampled placements, not one slot
    again = gen.generate(n=12, steps=6, seed=0, constraints=Contains("coffee shop"))
    assert again.texts == out.texts  # seeded, placement included


def test_placement_follows_the_score_and_composes_with_length(gen, monkeypatch):
    c = Contains("Italian", "pub", ordered=True)
    out = gen.generate(n=8, steps=4, seed=1, constraints=c & Length(9))
    assert out.report["constraints"][repr(c)]["satisfied"] == [True] * 8  # (Length's check: random "n't" re-splits)
    v = gen.tokenizer.vocab
    assert (out.tokens[:, 10] == v.end_id).all()  # Length holds; the phrases fit before it
    for row in out.tokens.tolist():
        i, p = row.index(v.id("Italian")), row.index(v.id("pub"))
        assert 1 <= i < p <= 9
    with pytest.raises(ConstraintError, match="cannot be placed"):  # before any sampling
        gen.generate(n=2, steps=2, constraints=Contains("The Mill is a pub") & Length(3))
    # placement is sampled from softmax(score): a score that prefers start 6 by far puts every phrase there
    monkeypatch.setattr(gen, "placement_score",
                        lambda taken, starts, ids: torch.tensor([50.0 if s == 6 else 0.0 for s in starts]))
    out = gen.generate(n=6, steps=3, seed=2, constraints=Contains("riverside"))
    assert (out.tokens[:, 6] == v.id("riverside")).all() and out.report["satisfied"] == [True] * 6


def test_placement_respects_other_fixed_words(gen):
    v = gen.tokenizer.vocab
    out = gen.generate(n=6, steps=4, seed=3, constraints=Prefix("The Mill is") & Contains("Mill is a"))
    assert out.report["satisfied"] == [True] * 6
    assert (out.tokens[:, 1:4] == torch.tensor([v.id("The"), v.id("Mill"), v.id("is")])).all()


def test_placement_score_is_a_normalised_chain_rule(gen):
    """Σ_w exp(score([w])) = 1 at a start, and Σ_w1 exp(score([w0, w1])) = exp(score([w0])): the chain rule of the
    denoiser's clean-token conditionals (MASK never a candidate)."""
    v, taken = gen.tokenizer.vocab, {0: gen.tokenizer.vocab.start_id}
    words = [i for i in range(len(v)) if i != v.mask_id]
    one = torch.cat([gen.placement_score(taken, [3], [w]) for w in words]).exp()
    assert math.isclose(float(one.sum()), 1.0, rel_tol=1e-6)
    w0 = v.id("pub")
    two = torch.cat([gen.placement_score(taken, [3], [w0, w]) for w in words]).exp()
    assert math.isclose(float(two.sum()), float(gen.placement_score(taken, [3], [w0]).exp()), rel_tol=1e-6)
    assert float(gen.placement_score({**taken, 3: w0}, [3], [w0])) == 0.0  # a word already in place


def test_allow_unk_places_unk_and_writes_the_word_back(gen):
    out = gen.generate(n=4, steps=3, seed=0, constraints=Contains("Zorblax", allow_unk=True))
    assert all("Zorblax" in t for t in out.texts) and out.report["satisfied"] == [True] * 4
    assert (out.tokens == gen.tokenizer.vocab.unk_id).sum(1).tolist() == [1] * 4
    # two leaves with unknown words: never one [UNK] for both; streamed batches write back the same texts
    c = Contains("Zorblax", allow_unk=True) & Contains("Quux", allow_unk=True)
    parts = []
    out = gen.generate(n=8, steps=3, seed=1, batch_size=3, constraints=c, on_batch=lambda s, p: parts.append(s))
    assert out.report["satisfied"] == [True] * 8 and parts[0] == 0 and len(parts) >= 3
    assert out.texts == gen.generate(n=8, steps=3, seed=1, batch_size=3, constraints=c).texts


# ------------------------------------------------------------------------------ placement (embedding)
@pytest.fixture
def emb_gen(tiny_model, tokenizer, diffusion):
    from ctrlgen.backends.embedding.generator import EmbeddingGenerator

    return EmbeddingGenerator(tiny_model, tokenizer, diffusion)


def test_embedding_every_sample_contains_the_phrase_clamped(emb_gen):
    out = emb_gen.generate(n=12, steps=5, seed=0, constraints=Contains("coffee shop"))
    assert out.report["satisfied"] == [True] * 12 and all("coffee shop" in t for t in out.texts)
    v = emb_gen.tokenizer.vocab
    assert (out.tokens[:, 0] == v.start_id).all()
    for row in out.tokens.tolist():  # words only up to the phrase: nothing before it can end the text
        end = row.index(v.id("shop"))
        assert row[end - 1] == v.id("coffee") and not {v.end_id, v.pad_id, v.start_id} & set(row[1:end])
    assert len(set(_starts(out.texts, "coffee shop"))) >= 3  # sampled per sample, not one slot
    assert emb_gen.generate(n=12, steps=5, seed=0, constraints=Contains("coffee shop")).texts == out.texts
    streamed = []
    again = emb_gen.generate(n=12, steps=5, seed=0, batch_size=5, constraints=Contains("coffee shop"),
                             on_batch=lambda s, p: streamed.append(s))
    assert again.report["satisfied"] == [True] * 12 and streamed == [0, 5, 10]


def test_embedding_placement_composes_and_follows_the_score(emb_gen, monkeypatch):
    v = emb_gen.tokenizer.vocab
    c = Contains("Italian", "pub", ordered=True)
    out = emb_gen.generate(n=6, steps=4, seed=1, constraints=c & Length(9) & Prefix("The"))
    assert out.report["constraints"][repr(c)]["satisfied"] == [True] * 6
    assert (out.tokens[:, 10] == v.end_id).all() and (out.tokens[:, 1] == v.id("The")).all()
    for row in out.tokens.tolist():
        assert 2 <= row.index(v.id("Italian")) < row.index(v.id("pub")) <= 9
    with pytest.raises(ConstraintError, match="cannot be placed"):  # before any sampling
        emb_gen.generate(n=2, steps=2, constraints=Contains("The Mill is a pub") & Length(3))
    monkeypatch.setattr(emb_gen, "placement_score",
                        lambda taken, starts, ids: torch.tensor([50.0 if s == 7 else 0.0 for s in starts]))
    out = emb_gen.generate(n=5, steps=3, seed=2, constraints=Contains("riverside"))
    assert (out.tokens[:, 7] == v.id("riverside")).all()


def test_embedding_placement_score_is_the_factorised_x0_prediction(emb_gen):
    """score(s) = Σ_j log q_{s+j}(w_j) of the clean-token prediction at full noise; Σ_w exp(score([w])) = 1 at a
    free position; a word in place contributes 0; the score reads the taken context."""
    v, taken = emb_gen.tokenizer.vocab, {0: emb_gen.tokenizer.vocab.start_id}
    lp = emb_gen.clean_log_probs(taken)
    assert torch.allclose(lp.exp().sum(-1), torch.ones(lp.shape[0], dtype=lp.dtype))
    assert float(lp[:, v.mask_id].exp().max()) == 0.0
    a, b = v.id("coffee"), v.id("shop")
    got = emb_gen.placement_score(taken, [2, 5], [a, b])
    assert torch.allclose(got, torch.stack([lp[2, a] + lp[3, b], lp[5, a] + lp[6, b]]))
    with_a = emb_gen.clean_log_probs({**taken, 5: a})
    assert torch.allclose(emb_gen.placement_score({**taken, 5: a}, [5], [a, b]), with_a[6, b][None])
    assert float(with_a[6, b]) < 0 and not torch.allclose(with_a, lp)  # "coffee" in place: 0; the context is read


def test_embedding_allow_unk_writes_the_word_back(emb_gen):
    out = emb_gen.generate(n=4, steps=3, seed=0, constraints=Contains("Zorblax", allow_unk=True))
    assert all("Zorblax" in t for t in out.texts) and out.report["satisfied"] == [True] * 4


# ------------------------------------------------------------------------- soft face (classifier-free)
def test_soft_face_is_a_working_guidance_signal(emb_gen, tokenizer):
    """One gradient step on x along −∇loss raises phrases_log_prob of the denoiser's own x̂0 (no classifier)."""
    from ctrlgen.constraints.fingerprint import ModelContext

    c = Contains("coffee shop", "riverside", face="soft")
    ctx = ModelContext.of(emb_gen.model, emb_gen.diffusion, None, tokenizer)
    prepared = c.prepare(tokenizer, 24, "embedding", model=ctx)
    assert prepared.hard is None and [t.faces for t in prepared.terms] == [frozenset({"soft:embedding"})]
    loss = prepared.soft_terms[0].soft
    torch.manual_seed(0)
    x, t = torch.randn(4, 24, emb_gen.model.config.embed_dim), torch.full((4,), 50)
    ids = [[tokenizer.vocab.id("coffee"), tokenizer.vocab.id("shop")], [tokenizer.vocab.id("riverside")]]

    def log_p(z):
        return phrases_log_prob(emb_gen.model.logits(emb_gen.model(z, t)).log_softmax(-1), ids,
                                [list(range(1, 22)), list(range(1, 23))])

    x.requires_grad_(True)
    value = loss(x, t)
    assert torch.allclose(value, -log_p(x))  # the loss is −phrases_log_prob over the allowed starts
    (grad,) = torch.autograd.grad(value.sum(), x)
    with torch.no_grad():
        before, after = log_p(x), log_p(x - 0.05 * grad / grad.norm(dim=(1, 2), keepdim=True))
    assert (after > before).all()


def test_soft_face_binds_needs_the_model_and_only_steers_embedding(emb_gen, tokenizer):
    from ctrlgen.constraints import UnsupportedConstraintError

    soft = Contains("coffee shop", face="soft")
    assert soft != Contains("coffee shop") and repr(soft) == "Contains('coffee shop', face='soft')"
    with pytest.raises(ConstraintError, match="needs the model"):
        soft.prepare(tokenizer, 24, "embedding")
    with pytest.raises(UnsupportedConstraintError) as e:
        soft.prepare(tokenizer, 24, "discrete")
    assert "embedding" in e.value.hint
    with pytest.raises(ConstraintError, match="face must be"):
        Contains("pub", face="both")
    out = emb_gen.generate(n=3, steps=4, seed=0, constraints=0.5 * soft)  # runs; judged by the check face only
    assert len(out.report["constraints"][repr(soft)]["satisfied"]) == 3
    assert "placement" not in out.report


# ------------------------------------------------------------------------------ insertion start (edit)
def test_insertion_start_places_the_phrase_at_the_best_boundary(tokenizer):
    from ctrlgen.backends.edit.start import contains_phrases, insert_phrases

    v = tokenizer.vocab

    row = v.ids(split_words("The Mill is a pub ."))
    prepared = (Contains("coffee shop") & Contains("Mill", "riverside")).prepare(tokenizer, 24, "edit")
    phrases = contains_phrases(prepared, v)
    assert phrases == [v.ids(["coffee", "shop"]), [v.id("Mill")], [v.id("riverside")]]
    # a score preferring the phrase right after "a": inserted there; "Mill" already present stays; "riverside" last
    best_after_a = [lambda rows, w=w: [float(r[4:4 + len(w)] == w) for r in rows] for w in phrases]
    out, where = insert_phrases([row], phrases[:1], limit=22, score=best_after_a[0])
    assert v.words_of(out[0]) == split_words("The Mill is a coffee shop pub .") and where == [{5, 6}]
    out, where = insert_phrases([row], phrases, limit=22)  # no score: at the end; found phrases kept in place
    assert v.words_of(out[0]) == split_words("The Mill is a pub . coffee shop riverside")
    assert where == [{7, 8, 2, 9}]
    out, where = insert_phrases([row], phrases[:1], limit=5)  # too long: words outside the phrase dropped
    assert v.words_of(out[0]) == split_words("The Mill is coffee shop") and where == [{4, 5}]


def test_insertion_start_makes_room_before_scoring_a_full_row():
    """A row already at the limit: the scorer never sees a candidate longer than the limit, the phrase survives."""
    from ctrlgen.backends.edit.start import insert_phrases

    seen = []

    def score(cands):
        seen.extend(len(c) for c in cands)
        return [0.0] * len(cands)

    (row,), (where,) = insert_phrases([list(range(10, 56))], [[1, 2, 3]], 46, score)
    assert max(seen) <= 46 and len(row) == 46
    assert [row[p - 1] for p in sorted(where)] == [1, 2, 3]
