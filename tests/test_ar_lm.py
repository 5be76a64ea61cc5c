"""The small autoregressive LM (teacher / AR draft) and the teacher-LM fluency score."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from ctrlgen.errors import CheckpointError, ConfigError, DataError, SamplingError
from ctrlgen.models.ar_lm import ARLM, ARLMConfig, ARObjective
from ctrlgen.models.pretrained import WEIGHTS_FILE, load_pretrained, save_pretrained
from ctrlgen.oracles.fluency import well_formed
from ctrlgen.oracles.teacher import Teacher, lm_score, text_nlls
from ctrlgen.text.tokenizer import Tokenizer
from ctrlgen.training.trainer import TrainConfig, Trainer

torch.set_num_threads(1)
SEQ_LEN = 24


def tiny_ar(vocab_size: int, seed: int = 0, **kw) -> ARLM:
    torch.manual_seed(seed)
    cfg = {"seq_len": SEQ_LEN, "hidden": 32, "layers": 2, "heads": 2, "dropout": 0.0}
    cfg.update(kw)
    return ARLM(ARLMConfig(vocab_size=vocab_size, **cfg)).eval()


def brute_force_nll(model: ARLM, ids: torch.Tensor, end_id: int, pad_id: int) -> torch.Tensor:
    """Σ −log p(w_j | w_<j) over j = 1 … first END, by hand from the logits."""
    logp = torch.log_softmax(model(ids).double(), dim=-1)
    out = []
    for b, row in enumerate(ids.tolist()):
        total = 0.0
        for j in range(1, len(row)):
            if row[j] == pad_id:
                break
            total -= float(logp[b, j - 1, row[j]])
            if row[j] == end_id:
                break
        out.append(total)
    return torch.tensor(out, dtype=torch.double)


@pytest.fixture
def ar(tokenizer: Tokenizer) -> ARLM:
    return tiny_ar(len(tokenizer))


def test_nll_matches_brute_force_and_ignores_pad(ar: ARLM, tokenizer: Tokenizer, tiny_texts: list[str]) -> None:
    v = tokenizer.vocab
    ids = torch.tensor([tokenizer.encode(t, SEQ_LEN) for t in tiny_texts[:4]])
    assert (ids == v.pad_id).any()
    with torch.no_grad():
        nll = ar.nll(ids)
        torch.testing.assert_close(nll.double(), brute_force_nll(ar, ids, v.end_id, v.pad_id), rtol=1e-5, atol=1e-4)
        n_words = [len(tokenizer.encode(t)) - 2 for t in tiny_texts[:4]]
        assert ar.token_counts(ids).tolist() == [n + 1 for n in n_words]  # the words and END
        # More padding (and garbage after END) changes nothing: causal attention never looks right.
        short = torch.tensor([tokenizer.encode(t, SEQ_LEN - 2) for t in tiny_texts[:4]])
        torch.testing.assert_close(ar.nll(short), nll, rtol=1e-5, atol=1e-4)
        junk = ids.clone()
        junk[junk == v.pad_id] = v.unk_id
        torch.testing.assert_close(ar.nll(junk), nll, rtol=1e-5, atol=1e-4)


def test_uniform_model_has_perplexity_vocab_size(ar: ARLM, tokenizer: Tokenizer, tiny_texts: list[str]) -> None:
    with torch.no_grad():
        ar.gpt.transformer.wte.weight.zero_()  # tied head → all logits 0 → uniform next-word distribution
    assert lm_score(tiny_texts, ar, tokenizer) == pytest.approx(len(tokenizer), rel=1e-5)


def test_lm_score_is_exp_of_mean_token_nll(ar: ARLM, tokenizer: Tokenizer, tiny_texts: list[str]) -> None:
    v = tokenizer.vocab
    ids = torch.tensor([tokenizer.encode(t, SEQ_LEN) for t in tiny_texts])
    with torch.no_grad():
        per_text = brute_force_nll(ar, ids, v.end_id, v.pad_id)
    n_tokens = sum(len(tokenizer.encode(t)) - 1 for t in tiny_texts)
    expected = math.exp(float(per_text.sum()) / n_tokens)
    assert lm_score(tiny_texts, ar, tokenizer, batch_size=3) == pytest.approx(expected, rel=1e-5)
    scores = text_nlls(tiny_texts, ar, tokenizer)
    torch.testing.assert_close(scores.nll, per_text, rtol=1e-5, atol=1e-4)
    assert scores.truncated == 0 and int(scores.tokens.sum()) == n_tokens
    assert not ar.training  # scoring leaves the mode alone


def test_long_texts_truncate_with_count_or_raise(ar: ARLM, tokenizer: Tokenizer, tiny_texts: list[str]) -> None:
    long_text = " ".join([tiny_texts[0]] * 4)
    assert len(tokenizer.encode(long_text)) > SEQ_LEN
    scores = text_nlls([long_text, tiny_texts[1]], ar, tokenizer)
    assert scores.truncated == 1 and int(scores.tokens[0]) == SEQ_LEN - 1  # words only, no END
    with pytest.raises(DataError, match="seq_len"):
        lm_score([long_text], ar, tokenizer, on_long="error")


@pytest.mark.parametrize("tie", [True, False])
def test_save_load_round_trip_is_bit_identical(tokenizer: Tokenizer, tiny_texts: list[str], tmp_path: Path,
                                               tie: bool) -> None:
    from safetensors.torch import load_file

    model = tiny_ar(len(tokenizer), tie_embeddings=tie)
    save_pretrained(tmp_path / "ar", model, tokenizer)
    stored = load_file(str(tmp_path / "ar" / WEIGHTS_FILE))
    assert ("gpt.lm_head.weight" in stored) is not tie  # a tied matrix is stored once
    loaded, tok2, cfg = load_pretrained(tmp_path / "ar", ARLM)
    assert cfg["model_type"] == "ar-lm" and tok2.to_dict() == tokenizer.to_dict()
    assert (loaded.gpt.lm_head.weight is loaded.gpt.transformer.wte.weight) is tie
    full_a, full_b = model.gpt.state_dict(), loaded.gpt.state_dict()  # incl. the tied key
    assert full_a.keys() == full_b.keys()
    assert all(torch.equal(full_a[k], full_b[k]) for k in full_a)
    ids = torch.tensor([tokenizer.encode(t, SEQ_LEN) for t in tiny_texts])
    with torch.no_grad():
        assert torch.equal(model(ids), loaded(ids))
    teacher = Teacher.load(tmp_path / "ar")
    assert teacher.name == "ar" and len(teacher.fingerprint) == 64
    assert teacher.score(tiny_texts) == lm_score(tiny_texts, loaded, tokenizer)


def test_teacher_load_rejects_other_model_types(tiny_model, tokenizer: Tokenizer, tmp_path: Path) -> None:
    save_pretrained(tmp_path / "emb", tiny_model, tokenizer)
    with pytest.raises(CheckpointError, match="model_type"):
        Teacher.load(tmp_path / "emb")


def test_sampling_is_seeded_and_well_formed(ar: ARLM, tokenizer: Tokenizer) -> None:
    def draw(seed: int, **kw) -> torch.Tensor:
        return ar.sample(16, torch.Generator().manual_seed(seed), **kw)

    a, b, c = draw(0), draw(0), draw(1)
    assert a.shape == (16, SEQ_LEN) and a.dtype == torch.long
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert well_formed(a, tokenizer.vocab).all()
    short = draw(0, max_len=6, top_p=0.9, temperature=0.7, allow_unk=False)
    assert short.shape == (16, 6) and well_formed(short, tokenizer.vocab).all()
    assert not (short == tokenizer.vocab.unk_id).any()
    # Nucleus of ~0 mass keeps only the top word: greedy. Greedy with the KV cache equals argmax of a
    # full forward pass at every step (the cache is only a speed-up).
    greedy = ar.sample(2, temperature=0.0)
    assert torch.equal(ar.sample(2, torch.Generator().manual_seed(5), top_p=1e-6), greedy)
    with torch.no_grad():
        logits = ar(greedy)
    logits[..., [0, 1, 4]] = float("-inf")  # PAD, START, MASK are never sampled
    for j in range(1, SEQ_LEN - 1):  # the last slot is forced to END
        live = greedy[:, j] != tokenizer.vocab.pad_id
        assert torch.equal(logits[:, j - 1].argmax(-1)[live], greedy[live, j])
    for bad in ({"n": 0}, {"max_len": SEQ_LEN + 1}, {"temperature": -1.0}, {"top_p": 0.0}):
        with pytest.raises(SamplingError):
            ar.sample(**{"n": 2, **bad})


def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="multiple of model.heads"):
        ARLM(ARLMConfig(vocab_size=50, hidden=30, heads=4))
    with pytest.raises(ConfigError, match="vocab_size"):
        ARLM(ARLMConfig(vocab_size=5))


def test_overfits_two_sentences_through_the_trainer(tokenizer: Tokenizer, tiny_texts: list[str],
                                                    tmp_path: Path) -> None:
    model = tiny_ar(len(tokenizer)).train()
    data = torch.tensor([tokenizer.encode(t, SEQ_LEN) for t in tiny_texts[:2]])
    objective = ARObjective(model)
    terms = objective(data, None)
    assert terms["loss"].shape == (2,)
    torch.testing.assert_close(terms["loss"], model.nll(data) / model.token_counts(data))
    with torch.no_grad():
        before = model.eval().nll(data).sum()
    cfg = TrainConfig(steps=40, batch_size=2, lr=1e-2, lr_schedule="constant", warmup_steps=1, ema_decay=0.9,
                      log_every=40, checkpoint_every=40, threads=1)
    trainer = Trainer(model, tokenizer, data, objective, cfg, tmp_path / "run")
    final = trainer.train()
    with torch.no_grad():
        after = model.eval().nll(data).sum()
    assert after < 0.5 * before, (float(before), float(after))
    # The saved model holds the EMA weights, the tied embedding/head included (stored once).
    loaded, _, _ = load_pretrained(final, ARLM)
    ema = dict(zip([n for n, _ in model.named_parameters()], trainer.ema))
    assert torch.equal(loaded.gpt.transformer.wte.weight, ema["gpt.transformer.wte.weight"])
    assert torch.equal(loaded.gpt.lm_head.weight, ema["gpt.transformer.wte.weight"])
    assert not torch.equal(loaded.gpt.transformer.wte.weight, model.gpt.transformer.wte.weight)
