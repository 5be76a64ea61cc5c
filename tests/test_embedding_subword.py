"""Word-level constraints on a subword (BPE) *embedding* model (issue 15): the embedding backend places the word layouts
of ``Length`` / ``Infill`` / ``Prefix`` / ``Suffix`` and the ``Contains`` phrases per sample through the shared layout
search (:mod:`ctrlgen.core.placement`) with its own ``placement_score`` (:mod:`ctrlgen.backends.embedding.placement`),
then clamps their clean embeddings at every step. A tiny untrained Diffusion-LM (built here, no data) stands in for a
trained one; ``words_gen`` adds a rounding-head bias towards one whole-word subword (``Ġthe``) and rounds by logits,
so every free subword is one word unless a hole's word-boundary ban forbids it and the word counts are known."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from conftest import TINY_CSV
from subword_support import ODD, RARE, hole_subwords, pieces, tiny_bpe, whole_word_the

import ctrlgen
from ctrlgen.backends.embedding.diffusion import DiffusionConfig, GaussianDiffusion
from ctrlgen.backends.embedding.generator import EmbeddingGenerator
from ctrlgen.backends.embedding.model import EmbeddingLM, EmbeddingLMConfig
from ctrlgen.backends.embedding.sampler import EmbeddingSampler
from ctrlgen.cli.main import main
from ctrlgen.constraints import (
    POS,
    Contains,
    FixedTokens,
    Infill,
    Length,
    Prefix,
    SemanticField,
    Suffix,
    SyntaxSpans,
    SyntaxTree,
)
from ctrlgen.constraints.base import UnsupportedConstraintError
from ctrlgen.core import subword_layout
from ctrlgen.text.alignment import words_of
from ctrlgen.text.bpe import BPETokenizer
from ctrlgen.text.tokenizer import split_words

L = 40
LOGITS = EmbeddingSampler(steps=6, rounding="logits")  # words_gen rounds through its biased head


@pytest.fixture(scope="module")
def bpe() -> BPETokenizer:
    return tiny_bpe()


def _gen(bpe: BPETokenizer, bias: dict[int, float] | None = None) -> EmbeddingGenerator:
    torch.manual_seed(0)
    m = EmbeddingLM(EmbeddingLMConfig(vocab_size=len(bpe), seq_len=L, embed_dim=8, hidden=32, layers=2, heads=2,
                                      dropout=0.0)).eval()
    for i, b in (bias or {}).items():
        m.lm_bias.data[i] = b
    return EmbeddingGenerator(m, bpe, GaussianDiffusion.from_config(DiffusionConfig(steps=50)))


@pytest.fixture(scope="module")
def gen(bpe) -> EmbeddingGenerator:
    return _gen(bpe)


@pytest.fixture(scope="module")
def the(bpe) -> int:
    return whole_word_the(bpe)


@pytest.fixture(scope="module")
def words_gen(bpe, the) -> EmbeddingGenerator:
    """Rounding by logits picks ``Ġthe`` wherever it is allowed (one word per subword)."""
    return _gen(bpe, {the: 100.0})


def _at(where: dict[tuple[int, ...], int]) -> Any:
    """A placement score that puts run ``ids`` at ``where[ids]`` (any start when it is not listed)."""
    return lambda taken, starts, ids: torch.tensor([60.0 if where.get(tuple(ids)) == s else 0.0 for s in starts])


def _placed(g: EmbeddingGenerator, c: Any, n: int, seed: int) -> list:
    """The per-sample placements ``generate(n, seed=seed)`` draws (same generator, same order)."""
    return g.place_phrases(g.prepare(c), n, torch.Generator().manual_seed(seed))[0]


def _hole_words(c: Infill, text: str) -> list[int]:
    """Words in each hole of ``c`` in ``text``, when every fixed word is at its word position (else ``[]``)."""
    words, n = c.layout()
    got = split_words(text)
    if len(got) != n or any(got[p - 1] != w for p, w in words.items()):
        return []
    holes, run = [], 0
    for p in range(1, n + 1):
        if p in words:
            holes, run = holes + [run] * (run > 0), 0
        else:
            run += 1
    return holes + [run] * (run > 0)


TEMPLATES = [f"{RARE} is a [MASK:3] pub near {ODD} .",  # odd words at start and end
             f"The [MASK:2], {ODD} [MASK]!",              # in the middle, holes by punctuation
             f"[MASK] Café {RARE}-friendly [MASK:2]"]     # a hole first and last


# ------------------------------------------------------------------------------------------- Infill
@pytest.mark.parametrize("template", TEMPLATES)
def test_infill_holds_its_subwords_exactly(gen, bpe, template):
    c = Infill(template)
    assert gen.prepare(c).hard is None  # no subword position is known before the backend places the layout
    placed = _placed(gen, c, 4, 0)
    out = gen.generate(n=4, steps=6, seed=0, constraints=c)
    words, n = c.layout()
    free = hole_subwords(template, out.texts, out.tokens.tolist(), placed, bpe)
    assert free == [n - len(words)] * 4  # by default (EXTRA_SUBWORD_P = 0) a hole of k words is k subwords
    assert out.report["constraints"][repr(c)]["satisfied"] == c.satisfied(out.texts)  # words of the text


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_hole_holds_exactly_k_words(words_gen, template):
    c = Infill(template)
    out = words_gen.generate(n=6, steps=6, seed=0, constraints=c, sampler=LOGITS)
    want = _hole_words(c, template.replace("[MASK:3]", "a b c").replace("[MASK:2]", "a b").replace("[MASK]", "a"))
    assert want and all(_hole_words(c, t) == want for t in out.texts)
    assert c.score(out.texts) == [1.0] * 6  # every fixed word at its word position, n words in all


def test_a_hole_longer_than_its_words_still_holds_k_words(words_gen, bpe, the, monkeypatch):
    """With a length prior (EXTRA_SUBWORD_P > 0) a hole of 3 words may take 5 subwords: the word-boundary bans make
    two of them continue a word (never ``Ġthe``), so the hole still holds 3 words."""
    monkeypatch.setattr(subword_layout, "EXTRA_SUBWORD_P", 0.1)
    c = Infill(f"{RARE} [MASK:3] near {ODD} .")
    head, tail = pieces(bpe, RARE), tuple(pieces(bpe, f" near {ODD} ."))
    monkeypatch.setattr(words_gen, "placement_score", _at({tail: 1 + len(head) + 5}))
    out = words_gen.generate(n=4, steps=6, seed=1, constraints=c, sampler=LOGITS)
    hole = out.tokens[:, 1 + len(head):1 + len(head) + 5]
    assert ((hole == the).sum(1) == 3).all()  # 5 subwords, 3 word starts
    assert all(_hole_words(c, t) == [3] for t in out.texts) and c.score(out.texts) == [1.0] * 4


# ------------------------------------------------------------------------------------------- Length, Prefix, Suffix
@pytest.mark.parametrize("n", [3, 7])
def test_length_counts_words(words_gen, bpe, the, n):
    out = words_gen.generate(n=4, steps=6, seed=0, constraints=Length(n), sampler=LOGITS)
    assert [row.index(bpe.vocab.end_id) for row in out.tokens.tolist()] == [n + 1] * 4  # END placed by the layout
    assert (out.tokens[:, 1:n + 1] == the).all()
    assert [len(split_words(t)) for t in out.texts] == [n] * 4 and out.report["satisfied"] == [True] * 4


def test_prefix_suffix_and_length_are_exact_subwords(gen, words_gen, bpe):
    head, tail = pieces(bpe, f"{ODD} is"), pieces(bpe, " pub near the river.")
    out = gen.generate(n=3, steps=6, seed=0, constraints=Prefix(f"{ODD} is"))
    assert (out.tokens[:, 1:1 + len(head)] == torch.tensor(head)).all() and all(t.startswith(ODD) for t in out.texts)
    c = Prefix(f"{ODD} is") & Suffix("pub near the river.", length=10)
    out = words_gen.generate(n=3, steps=6, seed=0, constraints=c, sampler=LOGITS)
    for row, text in zip(out.tokens.tolist(), out.texts, strict=True):
        end = row.index(bpe.vocab.end_id)
        assert row[1:1 + len(head)] == head and row[end - len(tail):end] == tail
        assert text.startswith(f"{ODD} is") and text.endswith("pub near the river.") and len(split_words(text)) == 10
    assert out.report["satisfied"] == [True] * 3
    c = FixedTokens({1: "The", 3: RARE, 5: "[END]"})  # word positions: word 2 and word 4 are free, 4 words in all
    out = words_gen.generate(n=3, steps=6, seed=0, constraints=c, sampler=LOGITS)
    assert [split_words(t) for t in out.texts] == [["The", "the", RARE, "the"]] * 3 and c.score(out.texts) == [1.0] * 3


# ------------------------------------------------------------------------------------------- Contains, SemanticField
def test_contains_and_open_vocabulary_semantic_field_place_their_phrases(gen, bpe, monkeypatch):
    c = Contains(f"{ODD} pub")
    out = gen.generate(n=4, steps=6, seed=2, constraints=c)
    ids, first = pieces(bpe, f" {ODD} pub"), pieces(bpe, f"{ODD} pub")  # after other text / at the start
    for row, text in zip(out.tokens.tolist(), out.texts, strict=True):
        assert f"{ODD} pub" in text  # every character kept
        assert row[1:1 + len(first)] == first or any(row[s:s + len(ids)] == ids for s in range(2, L))
    assert out.report["satisfied"] == c.satisfied(out.texts)
    for field, value in (("food", "Japanese"), ("name", "Café Zoë")):  # seen in training, and never seen
        sf = SemanticField(field, value)
        out = gen.generate(n=3, steps=6, seed=0, constraints=sf & Length(12))
        assert all(value in t for t in out.texts)
        assert out.report["constraints"][repr(sf)]["satisfied"] == sf.satisfied(out.texts)
        assert out.report["constraints"]["Length(12)"]["satisfied"] == [len(split_words(t)) == 12 for t in out.texts]
    monkeypatch.setattr(gen, "placement_score", _at({tuple(ids): 9}))  # the placement follows the backend's score
    out = gen.generate(n=3, steps=6, seed=2, constraints=c)
    assert (out.tokens[:, 9:9 + len(ids)] == torch.tensor(ids)).all()


def test_placement_score_reads_the_denoiser_for_subword_runs(gen, bpe):
    """The layout search's score: finite, normalised at a start, and 0 for a run already in place."""
    v, taken = bpe.vocab, {0: bpe.vocab.start_id}
    every = [i for i in range(len(v)) if i != v.mask_id]
    one = torch.cat([gen.placement_score(taken, [3], [w]) for w in every]).exp()
    assert abs(float(one.sum()) - 1.0) < 1e-6
    ids = pieces(bpe, f" {ODD}")
    got = gen.placement_score(taken, [2, 5], ids)
    assert got.shape == (2,) and bool(got.isfinite().all())
    assert float(gen.placement_score({**taken, **dict(zip(range(5, 5 + len(ids)), ids))}, [5], ids)) == 0.0


# ------------------------------------------------------------------------------------------- clamping, alignment
def test_placed_subwords_are_clamped_at_every_step(gen, bpe):
    """Every step's x̂0 holds the placed tokens' clean embeddings, and round(x̂0) respects the holes' bans."""
    c = Infill(f"{ODD} [MASK:2] pub near [MASK] .")
    placed = _placed(gen, c, 3, 4)
    seen: list[torch.Tensor] = []

    def spy(out, t, model):
        seen.append(out.x0_pred.clone())
        return out.x_prev

    out = gen.generate(n=3, steps=6, seed=4, constraints=c, hook=spy)
    assert len(seen) == 6
    emb = gen.model.embedding.weight
    for x0 in seen:
        for k, spec in enumerate(placed):
            pos = sorted(spec.positions)
            assert torch.equal(x0[k, pos], emb[[spec.positions[p] for p in pos]])
    for row, spec in zip(out.tokens.tolist(), placed, strict=True):
        assert all(row[p] not in ban for p, ban in spec.banned.items())


def test_alignment_of_output_words_is_the_check_faces_words(words_gen, bpe):
    for c in (Infill(f"{ODD} [MASK:2], {RARE} [MASK]!"), Contains(f"{ODD} pub") & Length(9)):
        out = words_gen.generate(n=4, steps=6, seed=0, constraints=c, sampler=LOGITS)
        for row, text in zip(out.tokens.tolist(), out.texts, strict=True):
            assert [w.text for w in words_of(bpe, row)] == split_words(text)


# ------------------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("c", [POS(["PROPN", "AUX"]), SyntaxSpans([(0, 1, "NP")]), SyntaxTree("(S (NP a) (VP b))")])
def test_word_labelling_soft_faces_refuse_subword_models(gen, c):
    with pytest.raises(UnsupportedConstraintError, match="subword models do not serve it yet"):
        gen.prepare(c)


# ------------------------------------------------------------------------------------------- training
TOML = """
output_dir = "{out}"
[data]
train = "{csv}"
tokenizer = "bpe"
vocab_size = 300
[model]
seq_len = 40
embed_dim = 8
hidden = 32
layers = 2
heads = 2
dropout = 0.0
[diffusion]
steps = 50
[training]
steps = 3
batch_size = 4
lr = 1e-3
warmup_steps = 1
checkpoint_every = 3
log_every = 1
threads = 1
"""


def test_ctrlgen_train_a_bpe_embedding_model_loads_and_generates(tmp_path):
    cfg = tmp_path / "bpe.toml"
    cfg.write_text(TOML.format(out=(tmp_path / "run").as_posix(), csv=TINY_CSV.as_posix()))
    assert main(["train", str(cfg)]) == 0
    g = ctrlgen.load(tmp_path / "run" / "model")
    assert isinstance(g, EmbeddingGenerator) and g.tokenizer.kind == "bpe" and len(g.tokenizer) <= 300
    assert len(g.generate(n=2, steps=4, seed=0).texts) == 2
    c = Infill(f"{ODD} is a [MASK:2] pub .")
    out = g.generate(n=2, steps=4, seed=0, constraints=c)
    assert all(t.startswith(f"{ODD} is a") and t.endswith(" pub .") for t in out.texts)
    assert out.report["constraints"][repr(c)]["satisfied"] == c.satisfied(out.texts)
