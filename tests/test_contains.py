"""``Contains``: bad input, the check face, the classifier-free phrase math (against brute force), the spec string;
placement by the backends is in ``tests/test_contains_placement.py``."""

import itertools
import math

import pytest
import torch

import ctrlgen
from ctrlgen.constraints import Contains, OutOfVocabularyError
from ctrlgen.constraints.base import ConstraintError
from ctrlgen.constraints.phrase_math import (
    phrase_log_prob,
    phrases_log_prob,
    start_log_probs,
)


# ------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("make, match", [
    (lambda: Contains(), "at least one phrase"),
    (lambda: Contains(" "), "no word"),
    (lambda: Contains("pub", 3), "must be a str"),
    (lambda: Contains("pub", min_position=5, max_position=2), "min_position 5 > max_position 2"),
    (lambda: Contains("pub", min_position=0), "min_position"),
    (lambda: Contains("pub", ordered="yes"), "ordered"),
])
def test_bad_input_is_typed(make, match):
    with pytest.raises(ConstraintError, match=match) as e:
        make()
    assert e.value.hint


def test_too_long_and_cannot_fit_raise_at_prepare(tokenizer):
    long = " ".join(["pub"] * 23)
    with pytest.raises(ConstraintError, match="sequence holds at most 22"):
        Contains(long).prepare(tokenizer, 24, "discrete")
    with pytest.raises(ConstraintError, match="cannot all fit"):  # 12 + 12 words > 22, in order
        Contains(" ".join(["pub"] * 12), " ".join(["food"] * 12), ordered=True).prepare(tokenizer, 24, "discrete")
    with pytest.raises(ConstraintError, match="within the position bounds"):  # 3 words starting at 21..: no room
        Contains("The Mill is", min_position=21).prepare(tokenizer, 24, "discrete")
    Contains(" ".join(["pub"] * 22)).prepare(tokenizer, 24, "discrete")  # exactly fits


def test_out_of_vocabulary_names_every_word(tokenizer):
    with pytest.raises(OutOfVocabularyError) as e:
        Contains("Zorblax pub", "Quuxley").prepare(tokenizer, 24, "discrete")
    assert e.value.words == ["Quuxley", "Zorblax"] and "allow_unk" in e.value.hint


# ------------------------------------------------------------------------------------------ check face
def test_check_face_words_order_and_positions():
    text = "The Mill is a pub in the city centre near the river ."
    assert Contains("city centre", "pub").satisfied([text]) == [True]
    assert Contains("city centre", "pub", ordered=True).satisfied([text]) == [False]  # pub comes first
    assert Contains("pub", "city centre", ordered=True).satisfied([text]) == [True]
    assert Contains("centre near", "Mill").score([text, "Mill"]) == [1.0, 0.5]
    assert Contains("pu").satisfied([text]) == [False]  # whole words only
    assert Contains("mill").satisfied([text]) == [False]  # case-sensitive
    assert Contains("pub", max_position=5).satisfied([text]) == [True]  # "pub" is word 5
    assert Contains("pub", max_position=4).satisfied([text]) == [False]
    assert Contains("the", min_position=7).satisfied([text]) == [True]  # the second "the" (word 7)
    assert Contains("The", min_position=2).satisfied([text]) == [False]
    # ordered phrases may not overlap: "city centre" then "centre near" needs "centre" twice
    assert Contains("city centre", "centre near", ordered=True).satisfied([text]) == [False]
    assert Contains("city centre", "centre near").satisfied([text]) == [True]
    assert repr(Contains("a", "b c", ordered=True)) == "Contains('a', 'b c', ordered=True)"
    assert Contains("a") == Contains("a") and hash(Contains("a")) == hash(Contains("a"))


# ----------------------------------------------------------------------------- phrase math, brute force
def _brute(probs, ids, starts):
    """P(the phrase occurs at one of ``starts``) for each row of ``probs: [B, L, V]`` by enumerating V^L sequences."""
    B, L, V = probs.shape
    out = torch.zeros(B, dtype=torch.float64)
    for seq in itertools.product(range(V), repeat=L):
        if any(all(seq[s + j] == w for j, w in enumerate(ids)) for s in starts):
            out += torch.stack([probs[:, p, v] for p, v in enumerate(seq)]).prod(0)
    return out


@pytest.mark.parametrize("ids", [[1], [0, 2], [1, 1], [2, 0, 1]])
def test_phrase_log_prob_against_brute_force(ids):
    torch.manual_seed(0)
    log_probs = torch.randn(3, 4, 3, dtype=torch.float64).log_softmax(-1)  # B=3, L=4, V=3
    probs, all_starts = log_probs.exp(), list(range(4 - len(ids) + 1))
    for s in all_starts:  # one start: exact
        assert torch.allclose(phrase_log_prob(log_probs, ids, [s]), _brute(probs, ids, [s]).log())
    exact = _brute(probs, ids, all_starts).log()
    soft_or, best = phrase_log_prob(log_probs, ids), start_log_probs(log_probs, ids).max(-1).values
    assert (best <= exact + 1e-12).all() and (exact <= soft_or + 1e-12).all()  # the union bound, both sides
    assert (soft_or <= best + math.log(len(all_starts)) + 1e-12).all()
    if ids == [2, 0, 1]:  # starts 0 and 1 would need x_1 = 0 and x_1 = 2: disjoint events, the bound is exact
        assert torch.allclose(soft_or, exact)
    else:  # two starts can co-occur (x = 1 1 …, 0 2 0 2): strictly a bound
        assert (soft_or > exact + 1e-6).all()


def test_several_phrases_bound_disjoint_windows_and_gradient():
    torch.manual_seed(1)
    logits = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    log_probs = logits.log_softmax(-1)
    a, b = [0], [2, 1]
    total = phrases_log_prob(log_probs, [a, b], starts=[[0, 1], [2]])  # windows {0,1} and {2,3}: independent
    assert torch.allclose(total, phrase_log_prob(log_probs, a, [0, 1]) + phrase_log_prob(log_probs, b, [2]))
    probs = log_probs.exp().detach()
    both = torch.zeros(2, dtype=torch.float64)
    for seq in itertools.product(range(3), repeat=4):
        if (seq[0] in a or seq[1] in a) and list(seq[2:]) == b:
            both += torch.stack([probs[:, p, v] for p, v in enumerate(seq)]).prod(0)
    assert (both.log() <= total + 1e-12).all()
    total.sum().backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
    assert torch.autograd.gradcheck(lambda x: phrase_log_prob(x.log_softmax(-1), [1, 0]),
                                    (torch.randn(1, 4, 3, dtype=torch.float64, requires_grad=True),))
    with pytest.raises(ConstraintError):
        phrase_log_prob(log_probs, [0] * 5)  # longer than L


def test_exported_from_the_facade():
    assert ctrlgen.Contains is Contains


# ----------------------------------------------------------------------------------------- spec string
def test_spec_string_and_cli(model_dir, capsys):
    import json

    from ctrlgen.cli.main import main
    from ctrlgen.constraints.specs import parse_constraint
    from ctrlgen.errors import ConfigError

    assert parse_constraint("contains=city centre") == Contains("city centre")
    assert parse_constraint("contains=pub;max_position=4;allow_unk=true") == Contains("pub", max_position=4,
                                                                                       allow_unk=True)
    assert parse_constraint("contains=pub;face=soft") == Contains("pub", face="soft")
    with pytest.raises(ConfigError, match="max_position must be an integer"):
        parse_constraint("contains=pub;max_position=five")
    assert main(["generate", "--model", str(model_dir), "-n", "3", "--steps", "3", "--json",
                 "--constraint", "contains=coffee shop", "--constraint", "contains=riverside"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 3 and all("coffee shop" in r["text"] and "riverside" in r["text"] for r in rows)
