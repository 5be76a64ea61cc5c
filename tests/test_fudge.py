"""FUDGE-guided AR decoding: λ = 0 is plain sampling, the discriminator steers, all-candidate logits are exact."""

from __future__ import annotations

import pytest
import torch

from ctrlgen import SemanticField
from ctrlgen.constraints.base import (
    ConstraintError,
    OutOfVocabularyError,
    UnsupportedConstraintError,
)
from ctrlgen.constraints.contains import Contains
from ctrlgen.constraints.mr import MR
from ctrlgen.errors import CheckpointError, SamplingError
from ctrlgen.evaluation.best_of_n import ar_best_of_n
from ctrlgen.evaluation.fudge import fudge_best_of, fudge_decode
from ctrlgen.evaluation.fudge_model import (
    FutureDiscriminator,
    FutureDiscriminatorConfig,
)
from ctrlgen.models.ar_lm import ARLM, PAD_ID, START_ID, ARLMConfig
from ctrlgen.text.tokenizer import Tokenizer

torch.set_num_threads(1)
CORPUS = ["The Vaults is a cheap pub .", "Blue Spice is a pub near the river .", "a cheap cafe called Zizzi .",
          "The Vaults serves Japanese food .", "Zizzi is a family friendly pub ."] * 3


@pytest.fixture(scope="module")
def tiny() -> tuple[ARLM, Tokenizer, FutureDiscriminator]:
    tok = Tokenizer.train(CORPUS, min_count=1)
    torch.manual_seed(0)
    model = ARLM(ARLMConfig(vocab_size=len(tok), seq_len=12, hidden=32, layers=1, heads=2, dropout=0.0)).eval()
    disc = FutureDiscriminator(FutureDiscriminatorConfig(vocab_size=len(tok), embed=8, attr=8, hidden=16,
                                                         head=8)).eval()
    return model, tok, disc


def test_strength_zero_is_plain_sampling(tiny) -> None:
    model, tok, disc = tiny
    c = SemanticField("food", "Japanese")
    out = fudge_decode(model, tok, disc, c, n=20, seed=3, strength=0.0, batch_size=8)
    plain = ar_best_of_n(model, tok, c, keep=20, pool=20, seed=3, batch_size=8)
    gen = torch.Generator().manual_seed(3)
    drawn = [t for k in (8, 8, 4) for t in tok.decode_batch(model.sample(k, gen))]
    assert out.texts == drawn
    assert sorted(out.texts) == sorted(plain.texts) and out.passed == plain.passed


def test_all_candidate_logits_equal_one_forward_per_candidate(tiny) -> None:
    _, tok, disc = tiny
    torch.manual_seed(1)
    prefix = torch.cat([torch.full((3, 1), START_ID), torch.randint(5, len(tok), (3, 4))], 1)
    fields = torch.tensor([0, 2, 7])
    values = torch.tensor([[tok.vocab.id("Blue"), tok.vocab.id("Spice")], [tok.vocab.id("Japanese"), PAD_ID],
                           [tok.vocab.id("The"), tok.vocab.id("Vaults")]])
    with torch.no_grad():
        fast = disc(prefix, fields, values)
        slow = torch.stack([disc.sequence_logits(torch.cat([prefix, torch.full((3, 1), v)], 1), fields, values)[0][:, -1]
                            for v in range(len(tok))], 1)
    assert fast.shape == (3, len(tok))
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)


def test_a_discriminator_that_favours_a_token_makes_it_appear(tiny) -> None:
    model, tok, disc = tiny
    favour = FutureDiscriminator(disc.config).eval()
    favour.load_state_dict(disc.state_dict())
    with torch.no_grad():  # the logit is +20 where the candidate's value slot is 1 ("Japanese" itself), -20 elsewhere
        for p in favour.parameters():
            p.zero_()
        e = favour.config.embed + favour.config.attr
        H = favour.config.hidden
        favour.gru.weight_ih_l0[2 * H:, e + 1] = 10.0  # candidate state n = tanh(10) ≈ 1 for a value-slot-1 word
        favour.gru.bias_hh_l0[H:2 * H] = -10.0  # z ≈ 0: the state is the candidate's n
        favour.head_h.weight[:, :] = 1.0 / H
        favour.out.weight[:] = 40.0 / favour.config.head
        favour.out.bias[:] = -20.0
    c = SemanticField("food", "Japanese")
    plain = fudge_decode(model, tok, favour, c, n=16, seed=0, strength=0.0)
    guided = fudge_decode(model, tok, favour, c, n=16, seed=0, strength=1.0)
    rate = sum("Japanese" in t for t in guided.texts) / 16
    assert rate > sum("Japanese" in t for t in plain.texts) / 16 and rate >= 0.9
    best = fudge_best_of(model, tok, favour, c, keep=4, pool=16, seed=0)
    assert best.pool == 16 and best.satisfied == sorted(best.satisfied, reverse=True)
    both = fudge_decode(model, tok, favour, MR.of({"food": "Japanese", "name": "Zizzi"}), n=4, seed=0)
    assert len(both.texts) == 4 and all("Japanese" in t for t in both.texts)


def test_bad_inputs_raise_typed_errors(tiny) -> None:
    model, tok, disc = tiny
    c = SemanticField("food", "Japanese")
    for bad in (float("nan"), -1.0, float("inf")):
        with pytest.raises(SamplingError):
            fudge_decode(model, tok, disc, c, n=2, seed=0, strength=bad)
    with pytest.raises(OutOfVocabularyError):
        fudge_decode(model, tok, disc, SemanticField("name", "The Zanzibar"), n=2, seed=0)
    narrow = FutureDiscriminator(FutureDiscriminatorConfig(vocab_size=len(tok), embed=8, attr=8, hidden=16, head=8,
                                                           fields=["food", "name"]))
    with pytest.raises(ConstraintError, match="does not know the field"):
        fudge_decode(model, tok, narrow, SemanticField("area", "riverside"), n=2, seed=0)
    with pytest.raises(UnsupportedConstraintError):
        fudge_decode(model, tok, disc, Contains("cheap"), n=2, seed=0)
    with pytest.raises(SamplingError):
        fudge_decode(model, tok, disc, c, n=2, seed=0, top_k=0)
    other = FutureDiscriminator(FutureDiscriminatorConfig(vocab_size=len(tok) + 1, embed=8, attr=8, hidden=16, head=8))
    with pytest.raises(CheckpointError):
        fudge_decode(model, tok, other, c, n=2, seed=0)


def test_save_load_round_trip_and_missing_asset(tiny, tmp_path) -> None:
    from ctrlgen.models.pretrained import save_pretrained

    _, tok, disc = tiny
    save_pretrained(tmp_path / "fudge", disc, tok)
    back = FutureDiscriminator.load(tmp_path / "fudge")
    for (k, a), (_, b) in zip(disc.state_dict().items(), back.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    with pytest.raises(CheckpointError, match="train_fudge"):
        FutureDiscriminator.load(tmp_path / "nowhere")


def test_top_k_one_is_greedy_decoding_whatever_the_discriminator(tiny) -> None:
    model, tok, disc = tiny
    out = fudge_decode(model, tok, disc, SemanticField("food", "Japanese"), n=3, seed=0, strength=5.0, top_k=1)
    assert out.texts == tok.decode_batch(model.sample(3, torch.Generator().manual_seed(0), temperature=0.0))
