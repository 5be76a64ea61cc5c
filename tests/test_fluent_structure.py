"""Issue 14 item 1 on the embedding backend: per-label lexicon projection, own-likelihood fluency, rerank."""

from __future__ import annotations

import pytest
import torch
from label_support import ParityLabels, parity

from ctrlgen.backends.embedding.fluency import fluent_order, own_log_likelihood
from ctrlgen.backends.embedding.generator import EmbeddingGenerator
from ctrlgen.core.lexicon import build_lexicon, label_banned
from ctrlgen.text.vocab import SPECIALS


def test_build_lexicon_keeps_labels_above_share(tokenizer):
    vocab = tokenizer.vocab
    w = next(x for x in vocab.words[len(SPECIALS):] if len(x) % 2)
    lex = build_lexicon(ParityLabels(["ODD"]), [[w], [w]], vocab, share=0.1)
    assert set(lex) == {"ODD"} and lex["ODD"].nonzero().flatten().tolist() == [vocab.id(w)]


def test_label_banned_allows_lexicon_words_then_end_then_pad(tokenizer):
    vocab, L = tokenizer.vocab, 10
    V = len(vocab)
    odd = torch.zeros(V, dtype=torch.bool)
    odd[[7, 9]] = True
    banned = label_banned([ParityLabels(["ODD", "NOUN", "ODD"])], [{"ODD": odd}], vocab, L)[0]
    allowed = ~banned
    assert allowed[1].nonzero().flatten().tolist() == [7, 9] == allowed[3].nonzero().flatten().tolist()
    assert not allowed[2, :len(SPECIALS)].any() and allowed[2, len(SPECIALS):].all()  # unknown label: any word
    assert allowed[4].nonzero().flatten().tolist() == [vocab.end_id]
    assert (allowed[5:].nonzero()[:, 1] == vocab.pad_id).all() and int(allowed[5:].sum()) == L - 5
    assert label_banned([ParityLabels(["ODD"]), ParityLabels(["ODD", "ODD"])], [{}, {}], vocab, L) is None


def test_fluent_order_passes_first_then_distinct_then_fluency():
    texts = ["a", "b", "a", "c", "d"]
    check = [1.0, 0.98, 1.0, 0.5, 1.0]
    flu = [-1.0, -0.5, -0.1, 0.0, -3.0]
    # within 0.05 of the best: 0, 1, 2, 4 → distinct by fluency: 2 ("a"), 1, 4; then the duplicate 0; then 3
    assert fluent_order(texts, check, flu) == [2, 1, 4, 0, 3]
    assert fluent_order(["x", "y"], None, [-2.0, -1.0]) == [1, 0]


def test_own_log_likelihood_is_deterministic_and_word_sensitive(tiny_model, tokenizer, diffusion):
    vocab = tokenizer.vocab
    ids = [vocab.start_id, 7, 8, 9, vocab.end_id] + [vocab.pad_id] * 19
    a = torch.tensor([ids, ids])
    c = a.clone()
    c[1, 2] = 12  # a word before END
    s = own_log_likelihood(tiny_model, diffusion, a, vocab.end_id)
    assert torch.equal(s, own_log_likelihood(tiny_model, diffusion, a, vocab.end_id))  # fixed seed
    assert s.shape == (2,) and (s < 0).all()
    sc = own_log_likelihood(tiny_model, diffusion, c, vocab.end_id)
    assert sc[0] == s[0] and sc[1] != s[1]


def test_generate_with_lexicon_projects_every_word(tiny_model, tokenizer, diffusion):
    gen = EmbeddingGenerator(tiny_model, tokenizer, diffusion)
    labels = ["ODD", "EVEN", "EVEN", "ODD", "ODD"]
    out = gen.generate(n=6, steps=10, seed=1, constraints=ParityLabels(labels), lexicon=True)
    vocab = tokenizer.vocab
    for row in out.tokens.tolist():
        assert row[len(labels) + 1] == vocab.end_id and set(row[len(labels) + 2:]) == {vocab.pad_id}
        assert [parity(vocab.word(i)) for i in row[1:len(labels) + 1]] == labels
    free = gen.generate(n=6, steps=10, seed=1, constraints=ParityLabels(labels))
    assert not torch.equal(free.tokens, out.tokens)  # off by default


def test_best_of_with_own_fluency(tiny_model, tokenizer, diffusion):
    """``best_of(fluency=gen.own_fluency)``: among equal checks the kept samples are the most fluent by the model."""
    gen = EmbeddingGenerator(tiny_model, tokenizer, diffusion)
    drawn = gen.generate(n=8, steps=6, seed=3)
    flu = gen.own_fluency(drawn.texts)
    assert len(flu) == 8 and flu == gen.own_fluency(drawn.texts)
    assert gen.own_fluency(drawn.texts[2:5]) == pytest.approx(flu[2:5], abs=1e-5)  # batch-independent
    out = gen.best_of(n=3, rerank=2, steps=6, seed=3, fluency=gen.own_fluency)
    assert out.report["rerank"]["drawn"] == 6 and len(out.texts) == 3
    scores = gen.own_fluency(out.texts)
    assert scores == sorted(scores, reverse=True)
