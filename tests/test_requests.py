"""Many requests per call (ctrlgen.core.requests): shared batches on the discrete backend, one output per request."""

import json

import pytest
import torch

from ctrlgen import Infill, Length
from ctrlgen.cli.main import main
from ctrlgen.constraints.base import Constraint
from ctrlgen.constraints.contains import Contains
from ctrlgen.core.requests import Request, read_requests
from ctrlgen.errors import ConfigError, CtrlgenError
from ctrlgen.models.pretrained import save_pretrained
from ctrlgen.registry import SOFT_TOKEN


@pytest.fixture
def gen(sedd_gen):
    return sedd_gen


TEMPLATE = "The Mill is a [MASK:2] pub ."


def _mixed():
    return [Request(Length(6), n=3, id="len"), Request(infill=TEMPLATE, n=2, id="fill"), Request(None, n=2),
            Request(Contains("city centre"), n=3), Request(Length(9) & Contains("pub"), n=1)]


def test_every_request_gets_its_own_output_and_holds_its_hard_face(gen, tokenizer):
    reqs = _mixed()
    outs = gen.generate_requests(reqs, steps=4, seed=0, batch_size=4)  # batches straddle requests
    assert [len(o.texts) for o in outs] == [r.n for r in reqs]
    for ids in outs[0].tokens:  # Length(6): END right after word 6
        assert int(ids[7]) == tokenizer.vocab.end_id
    assert all(t.startswith("The Mill is a") and t.endswith("pub.") for t in outs[1].texts)
    assert "mbr" in outs[1].report  # infill requests are MBR-ordered like Generator.infill
    assert "constraints" not in outs[2].report  # the unconstrained request has no constraint report
    city, centre, pub = (tokenizer.vocab.id(w) for w in ("city", "centre", "pub"))
    for ids in outs[3].tokens.tolist():  # the phrase placed in every row (its own place per row)
        assert any(ids[k:k + 2] == [city, centre] for k in range(len(ids) - 1))
    assert int(outs[4].tokens[0, 10]) == tokenizer.vocab.end_id and pub in outs[4].tokens[0, 1:10].tolist()
    for o in outs:
        assert o.report["batched_with"] == len(reqs)


def test_same_list_same_seed_same_texts_and_batch_size_only_moves_rows(gen):
    a = gen.generate_requests(_mixed(), steps=3, seed=5, batch_size=4)
    b = gen.generate_requests(_mixed(), steps=3, seed=5, batch_size=4)
    assert [o.texts for o in a] == [o.texts for o in b]


def test_mixed_rows_match_a_single_generate_when_alone(gen):
    """One request in the list: the shared-batch path conditions exactly like generate (same seed, same texts)."""
    alone = gen.generate_requests([Request(infill=TEMPLATE, n=3)], steps=3, seed=2, batch_size=8)[0]
    direct = gen.generate(n=3, steps=3, seed=2, batch_size=8, constraints=Infill(TEMPLATE))
    assert sorted(alone.texts) == sorted(direct.texts)


class _WordAt(Constraint):
    """A soft:token face (guidance only, no check): wants ``word_id`` at ``position``."""

    faces = frozenset({SOFT_TOKEN})

    def __init__(self, word_id: int, position: int) -> None:
        self.word_id, self.position = word_id, position

    def soft(self, tokenizer, seq_len, backend):
        return lambda onehot, sigma: -onehot[:, self.position, self.word_id]

    def __repr__(self) -> str:
        return f"_WordAt({self.word_id}, {self.position})"


def test_soft_requests_run_as_their_own_call(gen, monkeypatch):
    calls = []
    real = gen.generate

    def spy(**kw):
        calls.append(kw["n"])
        return real(**kw)

    monkeypatch.setattr(gen, "generate", spy)
    soft = _WordAt(3, 2)
    outs = gen.generate_requests([Request(soft, n=2), Request(Length(5), n=2), Request(soft, n=1)], steps=2)
    assert calls == [3] and [len(o.texts) for o in outs] == [2, 2, 1]  # the two soft ones merged into one call
    assert "batched_with" not in outs[0].report and outs[1].report["batched_with"] == 1


@pytest.mark.parametrize("bad", [[], "x", [Request(n=0)], [Request(n=2.5)], [Length(3)], [Request(n=10**9)]])
def test_bad_request_lists_are_typed_errors(gen, bad):
    with pytest.raises(CtrlgenError):
        gen.generate_requests(bad, steps=2)


def test_generate_options_that_belong_to_a_request_are_refused(gen):
    with pytest.raises(ConfigError, match="Request"):
        gen.generate_requests([Request(n=1)], n=3)


@pytest.mark.parametrize("line,match", [("{", "not JSON"), ("[1]", "not an object"), ('{"seed": 1}', "unknown keys"),
                                        ('{"constraints": 3}', "spec string"), ('{"n": 0}', "n"),
                                        ('{"constraints": ["nope=1"]}', "nope"), ('{"infill": 5}', "template")])
def test_request_lines_name_the_line(line, match):
    with pytest.raises(Exception, match="line 2") as e:
        read_requests(['{"n": 1}', line], "req.jsonl")
    assert match in str(e.value)


def test_cli_requests_stream_one_line_per_sample(gen, score_model, tokenizer, tmp_path, capsys):
    path = save_pretrained(tmp_path / "sedd", score_model, tokenizer, {"diffusion": {"graph": "absorbing"}})
    req = tmp_path / "r.jsonl"
    req.write_text('{"id": "a", "n": 2, "constraints": ["length=5"]}\n\n{"n": 1, "infill": "%s"}\n' % TEMPLATE)
    assert main(["generate", "--model", str(path), "--requests", str(req), "--steps", "3", "--quiet"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(x["request"], x["id"]) for x in lines] == [(0, "a"), (0, "a"), (1, None)]
    assert lines[2]["text"].startswith("The Mill is a")
    # guidance flags are accepted (they apply to guided requests; unguided ones share batches as before)
    assert main(["generate", "--model", str(path), "--requests", str(req), "--steps", "3", "--quiet",
                 "--guidance-mode", "every-step", "--guidance-demote"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert main(["generate", "--model", str(path), "--requests", str(req), "--constraint", "length=4"]) == 2
    assert main(["generate", "--model", str(path), "--requests", str(tmp_path / "missing.jsonl")]) == 2


def test_masked_backend_shares_batches_like_generate(tokenizer):
    """The masked backend mixes hard faces per row too; one request alone gives generate's texts."""
    from ctrlgen.backends.masked.generator import MaskedGenerator
    from ctrlgen.backends.masked.llada import MaskedLLaDA, MaskedLLaDAConfig

    torch.manual_seed(0)
    model = MaskedLLaDA(MaskedLLaDAConfig(vocab_size=len(tokenizer), mask_id=tokenizer.vocab.mask_id, seq_len=24,
                                          d_model=32, n_layers=2, n_heads=2, n_kv_heads=2, mlp_hidden_size=64))
    gen = MaskedGenerator(model, tokenizer)
    assert gen.mixes_requests
    outs = gen.generate_requests(_mixed(), steps=4, seed=0, batch_size=4)
    assert [len(o.texts) for o in outs] == [r.n for r in _mixed()]
    for ids in outs[0].tokens:
        assert int(ids[7]) == tokenizer.vocab.end_id
    assert all(t.startswith("The Mill is a") for t in outs[1].texts)
    alone = gen.generate_requests([Request(infill=TEMPLATE, n=3)], steps=4, seed=2)[0]
    direct = gen.generate(n=3, steps=4, seed=2, constraints=Infill(TEMPLATE))
    assert sorted(alone.texts) == sorted(direct.texts)
