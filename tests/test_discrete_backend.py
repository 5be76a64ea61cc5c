"""The discrete (SEDD) backend facade: exact conditioning through the constraint language."""

import json

import pytest
import torch

import ctrlgen
from ctrlgen import ConstraintConflictError, Infill, Length
from ctrlgen.backends.discrete.generator import DiscreteGenerator
from ctrlgen.backends.discrete.guidance import RateGuidance
from ctrlgen.backends.discrete.sampler import SEDDSampler
from ctrlgen.cli.main import main
from ctrlgen.constraints.base import Constraint, ConstraintError, UnsupportedConstraintError
from ctrlgen.errors import SamplingError
from ctrlgen.models.pretrained import save_pretrained
from ctrlgen.registry import SOFT_EMBEDDING, SOFT_TOKEN


@pytest.fixture
def gen(sedd_gen):  # conftest: a tiny SEDD model over the tiny vocabulary
    return sedd_gen


@pytest.fixture
def sedd_dir(score_model, tokenizer, tmp_path):
    return save_pretrained(tmp_path / "sedd", score_model, tokenizer, {"diffusion": {"graph": "absorbing"}})


def test_load_dispatches_on_model_type(sedd_dir):
    gen = ctrlgen.load(sedd_dir)
    assert isinstance(gen, DiscreteGenerator) and gen.backend == "discrete"


@pytest.mark.parametrize("predictor", ["analytic", "euler"])
def test_infill_positions_hold_in_every_step(gen, tokenizer, predictor):
    template = "The Mill is a [MASK:2] pub near [MASK] ."
    out = gen.generate(n=6, seed=1, constraints=Infill(template), return_trajectory=True,
                       sampler=SEDDSampler(steps=6, predictor=predictor))
    fixed = {1: "The", 2: "Mill", 3: "is", 4: "a", 7: "pub", 8: "near", 10: "."}
    v = tokenizer.vocab
    for pos, word in fixed.items():
        assert (out.tokens[:, pos] == v.id(word)).all()
    assert (out.tokens[:, 0] == v.start_id).all()
    assert (out.tokens[:, 11] == v.end_id).all() and (out.tokens[:, 12:] == v.pad_id).all()
    holes = out.tokens[:, [5, 6, 9]]
    specials = torch.tensor([v.pad_id, v.start_id, v.end_id, v.mask_id, v.unk_id])
    assert not torch.isin(holes, specials).any()
    # (the text-level check face is not asserted: random words such as "a" + "." re-tokenize as "a.")
    assert len(out.trajectory) == 7 and all(out.report["well_formed"])
    assert all(t.startswith("The Mill is a ") for t in out.texts)


def test_length_gives_words_then_end(gen, tokenizer):
    out = gen.generate(n=6, steps=5, seed=0, constraints=Length(7))
    v = tokenizer.vocab
    assert (out.tokens[:, 8] == v.end_id).all() and (out.tokens[:, 9:] == v.pad_id).all()
    specials = torch.tensor([v.pad_id, v.start_id, v.end_id, v.mask_id, v.unk_id])
    assert not torch.isin(out.tokens[:, 1:8], specials).any()
    assert "Length(7)" in out.report["constraints"]  # the check face is reported (on text, re-tokenized)


def test_mask_and_unk_never_generated_and_seeded(gen, tokenizer):
    a = gen.generate(n=8, steps=5, seed=3)
    assert not torch.isin(a.tokens, torch.tensor([tokenizer.vocab.mask_id, tokenizer.vocab.unk_id])).any()
    assert torch.equal(a.tokens, gen.generate(n=8, steps=5, seed=3).tokens)
    assert not torch.equal(a.tokens, gen.generate(n=8, steps=5, seed=4).tokens)


def test_no_sample_is_blank_even_when_the_model_prefers_to_end_at_once(gen, tokenizer):
    """PAD/START/END are banned at the first word position (core/placement.token_conditioning): a model that puts
    its mass on END there still writes a word, so no text comes back blank."""
    end = tokenizer.vocab.end_id
    with torch.no_grad():
        gen.model.head.bias[end] += 50.0  # END is by far the likeliest token everywhere
    out = gen.generate(n=16, steps=4, seed=0)
    assert all(int(ids[1]) not in (end, tokenizer.vocab.pad_id, tokenizer.vocab.start_id) for ids in out.tokens)
    assert all(t.strip() for t in out.texts)


def test_infill_orders_by_mbr(gen):
    out = gen.infill("The Mill is a [MASK:2] pub .", n=4, steps=4, seed=0)
    assert out.report["mbr"] == sorted(out.report["mbr"], reverse=True)
    assert all(t.startswith("The Mill is a") for t in out.texts)


class _SoftOnly(Constraint):
    faces = frozenset({SOFT_EMBEDDING})

    def soft(self, tokenizer, seq_len, backend):  # pragma: no cover - never reached on this backend
        return lambda x, t: x.sum()


def test_bad_input_raises_before_sampling(gen):
    with pytest.raises(ConstraintConflictError):
        gen.generate(n=1, steps=3, constraints=Length(3) & Infill("The Mill is a [MASK:4] pub ."))
    with pytest.raises(ConstraintError):
        gen.generate(n=1, steps=3, constraints=Infill("The Mill is a [MASK:40] pub ."))  # longer than seq_len
    with pytest.raises(UnsupportedConstraintError, match="embedding"):
        gen.generate(n=1, steps=3, constraints=_SoftOnly())
    with pytest.raises(SamplingError, match="steps"):
        gen.generate(n=1, steps=0)
    with pytest.raises(SamplingError, match="n must"):
        gen.generate(n=0)


def test_cli_backend_discrete(sedd_dir, capsys):
    code = main(["generate", "--model", str(sedd_dir), "--backend", "discrete", "-n", "2", "--steps", "3", "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0 and len(lines) == 2 and all("text" in r for r in lines)
    code = main(["infill", "The Mill is a [MASK] pub .", "--model", str(sedd_dir), "-n", "2", "--steps", "3",
                 "--predictor", "euler"])
    assert code == 0 and all(t.startswith("The Mill is a") for t in capsys.readouterr().out.splitlines())
    assert main(["generate", "--model", str(sedd_dir), "--backend", "embedding", "-n", "1"]) == 2
    assert "--backend discrete" in capsys.readouterr().err
    assert main(["generate", "--model", str(sedd_dir), "-n", "1", "--steps", "2", "--guidance-scale", "0.5",
                 "--guidance-shortlist", "0"]) == 0
    assert main(["generate", "--model", str(sedd_dir), "-n", "1", "--fluency-weight", "0.1"]) == 2
    assert "--guidance-scale" in capsys.readouterr().err


class _WordAt(Constraint):
    """A soft:token face that wants ``word`` at ``position``: −log p falls linearly with the one-hot mass of the word
    there."""

    faces = frozenset({SOFT_TOKEN})

    def __init__(self, word_id: int, position: int) -> None:
        self.word_id, self.position = word_id, position

    def soft(self, tokenizer, seq_len, backend):
        return lambda onehot, sigma: -12.0 * onehot[:, self.position, self.word_id]

    def __repr__(self) -> str:
        return f"_WordAt({self.word_id}, {self.position})"


def test_rate_guidance_steers_and_scale_zero_is_unguided(gen, tokenizer):
    want = tokenizer.vocab.id("pub")
    c = _WordAt(want, 3)
    plain = gen.generate(n=32, steps=8, seed=5)
    zero = gen.generate(n=32, steps=8, seed=5, constraints=c, guidance_scale=0.0)
    assert torch.equal(plain.tokens, zero.tokens)
    guided = gen.generate(n=32, steps=8, seed=5, constraints=c, guidance_scale=1.0)
    hits = lambda out: (out.tokens[:, 3] == want).float().mean().item()  # noqa: E731
    assert hits(guided) > hits(plain) + 0.3
    with pytest.raises(SamplingError, match="scale"):
        gen.generate(n=1, steps=2, constraints=c, guidance_scale=-1.0)


def test_bundled_sedd_model_infills():
    gen = ctrlgen.load("e2e-sedd")
    assert gen.backend == "discrete" and gen.model.config.graph == "absorbing"
    out = gen.infill("The Vaults is a [MASK:2] pub near [MASK] .", n=2, steps=8, seed=0)
    assert all(t.startswith("The Vaults is a ") and " pub near " in t for t in out.texts)
    assert all(out.report["well_formed"])


def test_shortlist_exact_ratios(gen, tokenizer):
    """Exact shortlist ratios equal the first-order ones for a soft face linear in the one-hot input (so the
    samples are identical), and match a brute-force evaluation for a nonlinear one."""
    want = tokenizer.vocab.id("pub")
    c = _WordAt(want, 3)
    first = gen.generate(n=16, steps=6, seed=2, constraints=c, guidance_shortlist=0)
    exact = gen.generate(n=16, steps=6, seed=2, constraints=c, guidance_shortlist=4)
    assert torch.equal(first.tokens, exact.tokens)

    n_vocab, mask = len(tokenizer), tokenizer.vocab.mask_id

    def soft(onehot, sigma):  # nonlinear in the one-hot input
        return -(onehot[:, 1:4, want].sum(-1) ** 2) - 0.5 * onehot[:, 2, 5]

    rg = RateGuidance(gen.model, [(1.0, soft)], shortlist=3, mask_id=mask)
    x = torch.full((2, 24), mask)
    x[:, 0] = tokenizer.vocab.start_id
    x[0, 1] = want
    sigma = torch.ones(2)
    scores = torch.randn(2, 24, n_vocab)
    scores[..., want] = 10.0  # always on the shortlist
    ratio = rg.exact_ratios(x, sigma, scores, torch.zeros(2, 24, n_vocab))
    for b in range(2):
        for i in range(24):
            for y in ratio[b, i].nonzero().flatten().tolist():
                moved = x[b:b + 1].clone()
                moved[0, i] = y
                brute = soft(torch.nn.functional.one_hot(x[b:b + 1], n_vocab).float(), sigma[:1]) - \
                    soft(torch.nn.functional.one_hot(moved, n_vocab).float(), sigma[:1])
                assert torch.allclose(ratio[b, i, y], brute[0])
    assert bool((ratio[0, 1] == 0).all())  # an unmasked position cannot jump (absorbing graph)
    assert float(ratio[1, 2, want]) == 1.0  # (1)² − 0: one 'pub' among positions 1..3
    with pytest.raises(SamplingError, match="shortlist"):
        RateGuidance(gen.model, [(1.0, soft)], shortlist=-1)


def test_steps_default_and_sampler_precedence(gen):
    """``steps=None`` → the sampler's steps when one is passed, else ``spec.default_steps`` (128); an explicit
    ``steps`` wins over the sampler's and keeps its other options (here the Euler predictor)."""
    assert gen.generate(n=1, seed=0).report["steps"] == gen.spec.default_steps == 128
    euler = SEDDSampler(steps=6, predictor="euler")
    assert gen.generate(n=2, seed=0, sampler=euler).report["steps"] == 6
    out = gen.generate(n=2, steps=3, seed=0, sampler=euler)
    assert (out.report["steps"], out.report["predictor"]) == (3, "euler")
    assert torch.equal(out.tokens, gen.generate(n=2, seed=0, sampler=SEDDSampler(steps=3, predictor="euler")).tokens)


def test_budget_estimate_refuses_up_front(gen, monkeypatch):
    seconds, per_sample = gen.budget(gen.options(n=4))
    cfg = gen.model.config
    assert 0 < seconds < 1 and per_sample > 6 * 8 * cfg.seq_len * cfg.vocab_size  # float64 step math dominates
    calls = []
    gen.model.register_forward_pre_hook(lambda *_: calls.append(1))
    monkeypatch.setenv("CTRLGEN_MAX_SECONDS", "10")
    with pytest.raises(SamplingError, match="would take"):
        gen.generate(n=100_000, steps=10_000)
    with pytest.raises(SamplingError, match="n must be|above the limit"):
        gen.generate(n=10**7)
    assert calls == []  # refused before any network ran (the probe is memoised from the first budget call)
