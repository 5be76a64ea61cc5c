"""Edit tagger and placeholder-and-fill generator: shapes, loss masking, target round trips, overfitting,
checkpoints. Tiny models (hidden 32, 2 layers), CPU, one thread."""

from __future__ import annotations

import random

import pytest
import torch

from ctrlgen.backends.edit.corruption import EditDiffusion, EditDiffusionConfig
from ctrlgen.backends.edit.edits import Edit, EditScript, apply_edits
from ctrlgen.backends.edit.models import (
    END_ID,
    IGNORE_INDEX,
    MASK_ID,
    PAD_ID,
    START_ID,
    EditGenerator,
    EditGeneratorConfig,
    EditTagger,
    EditTaggerConfig,
    encode_batch,
    length_targets,
    make_edit_batch,
    pad_targets,
    placeholder_sequence,
)
from ctrlgen.config import from_dict
from ctrlgen.errors import ConfigError, DataError
from ctrlgen.models.pretrained import load_pretrained, save_pretrained
from ctrlgen.text.tokenizer import Tokenizer

torch.set_num_threads(1)
V, L, MAX_SPAN = 30, 24, 12
TINY = {"vocab_size": V, "seq_len": L, "hidden": 32, "layers": 2, "heads": 2, "dropout": 0.0}


def tagger(**kw) -> EditTagger:
    torch.manual_seed(0)
    return EditTagger(EditTaggerConfig(**{**TINY, **kw}))


def generator(**kw) -> EditGenerator:
    torch.manual_seed(0)
    return EditGenerator(EditGeneratorConfig(**{**TINY, "max_span": MAX_SPAN, **kw}))


def pairs(n: int, seed: int, steps: int = 1) -> list[tuple[list[int], EditScript]]:
    """``n`` (x_t, reverse script) pairs from random trajectories that fit in ``L``."""
    ed = EditDiffusion(EditDiffusionConfig(max_span=4), V)
    r, out = random.Random(seed), []
    while len(out) < n:
        x0 = [r.randrange(5, V) for _ in range(r.randint(0, 10))]
        states, rev = ed.trajectory(x0, r, steps=steps)
        for x_t, script in zip(states[1:], rev):
            if len(x_t) + 2 <= L and len(apply_edits(x_t, script)) + 2 <= L and max(script.span_lengths) <= MAX_SPAN:
                out.append((x_t, script))
    return out[:n]


def batch(n: int = 6, seed: int = 0):
    p = pairs(n, seed)
    return make_edit_batch([s for s, _ in p], [e for _, e in p], L, MAX_SPAN)


def test_tagger_shapes_and_slot0():
    b = batch()
    m = tagger().eval()
    t = torch.arange(1, 7)
    logits = m(b.ids, t)
    assert logits.shape == (6, L, 4)
    assert torch.isinf(logits[:, 0, [Edit.DELETE, Edit.REPLACE]]).all() and torch.isfinite(logits[:, 1:]).all()
    tags = m.tags(b.ids, 3.0)  # one number serves the batch
    assert tags.shape == (6, L) and tags.dtype == torch.long
    assert ((tags[:, 0] == Edit.KEEP) | (tags[:, 0] == Edit.INSERT)).all()
    assert (tags[(b.ids == PAD_ID) | (b.ids == END_ID)] == Edit.KEEP).all()
    assert not torch.equal(m(b.ids, torch.ones(6)), m(b.ids, torch.full((6,), 9.0)))  # t is read


def test_generator_shapes_and_greedy_outputs_form_a_script():
    b, m = batch(), generator().eval()
    tg = tagger().eval()
    ll = m.length_logits(b.ids, b.tags, 2.0)
    assert ll.shape == (6, L, MAX_SPAN + 1)
    fl = m.fill_logits(b.fill_ids, 2.0)
    assert fl.shape == (6, L, V) and torch.isinf(fl[..., [PAD_ID, START_ID, END_ID, MASK_ID]]).all()
    # greedy tags and lengths always make a valid EditScript (slot 0 KEEP/INSERT, spans exactly where needed)
    tags = tg.tags(b.ids, 2.0)
    lengths = m.lengths(b.ids, tags, 2.0)
    assert lengths.shape == (6, L) and lengths.max() <= MAX_SPAN
    for ids, tg_row, ln in zip(b.ids.tolist(), tags.tolist(), lengths.tolist()):
        n = ids.index(END_ID) - 1
        script = EditScript(tuple(tg_row[:n + 1]), tuple((MASK_ID,) * k for k in ln[:n + 1]))
        assert all(k == 0 for k in ln[n + 1:])
        masked, _ = placeholder_sequence(ids[1:n + 1], script)
        assert masked.count(MASK_ID) == sum(ln)
    # fill writes words at [MASK] only, never a special other than UNK
    filled = m.fill(b.fill_ids, 2.0)
    keep = b.fill_ids != MASK_ID
    assert (~keep).any() and torch.equal(filled[keep], b.fill_ids[keep])
    assert (filled[~keep] >= 3).all() and (filled[~keep] != MASK_ID).all()


def test_tagger_loss_ignores_pad_and_end():
    b, m = batch(), tagger().eval()
    t = torch.arange(6)
    base = m.loss(b.ids, t, b.tags)
    g = torch.Generator().manual_seed(1)
    off = (b.ids == PAD_ID) | (b.ids == END_ID)
    assert off.any()
    for _ in range(5):
        noisy = torch.where(off, torch.randint(0, 4, b.tags.shape, generator=g), b.tags)
        assert torch.equal(m.loss(b.ids, t, noisy), base)
    changed = b.tags.clone()
    changed[0, 1] = (changed[0, 1] + 1) % 4  # a real slot: the loss must move
    assert not torch.equal(m.loss(b.ids, t, changed), base)


def test_generator_loss_ignores_positions_without_targets():
    b, m = batch(), generator().eval()
    base_len, base_fill = m.length_loss(b.ids, b.tags, 1.0, b.lengths), m.fill_loss(b.fill_ids, 1.0, b.fill_targets)
    assert torch.isfinite(base_len) and torch.isfinite(base_fill)
    no_span = (b.tags != Edit.REPLACE) & (b.tags != Edit.INSERT)
    assert torch.equal(m.length_loss(b.ids, b.tags, 1.0, b.lengths.masked_fill(no_span, 5)), base_len)
    assert torch.equal(m.fill_loss(b.fill_ids, 1.0, b.fill_targets.masked_fill(b.fill_ids != MASK_ID, 7)),
                       base_fill)
    assert torch.equal(m.loss(b.ids, b.tags, 1.0, b.lengths, b.fill_ids, b.fill_targets), base_len + base_fill)
    empty = torch.full_like(b.fill_targets, IGNORE_INDEX)  # nothing to learn: 0, not nan
    assert m.fill_loss(b.fill_ids, 1.0, empty).item() == 0.0


def test_placeholders_filled_with_targets_reproduce_apply_edits():
    cases = pairs(400, seed=7, steps=3)
    assert sum(e.num_edits > 0 for _, e in cases) > 200
    for source, script in cases:
        masked, targets = placeholder_sequence(source, script)
        assert len(masked) == len(targets) == script.target_length
        assert masked.count(MASK_ID) == sum(script.span_lengths)
        filled = [tgt if i == MASK_ID else i for i, tgt in zip(masked, targets)]
        assert filled == apply_edits(source, script)
        assert all((i == MASK_ID) == (tgt != IGNORE_INDEX) for i, tgt in zip(masked, targets))
        assert length_targets(script, MAX_SPAN) == list(script.span_lengths)
    # the same through the packed tensors
    sources, scripts = [s for s, _ in cases], [e for _, e in cases]
    b = make_edit_batch(sources, scripts, L, MAX_SPAN)
    gold = encode_batch([apply_edits(s, e) for s, e in cases], L)
    assert torch.equal(torch.where(b.fill_ids == MASK_ID, b.fill_targets, b.fill_ids), gold)
    for row, (s, e) in enumerate(cases):
        assert b.tags[row, :len(s) + 1].tolist() == list(e.tags) and (b.tags[row, len(s) + 1:] == IGNORE_INDEX).all()
        assert b.lengths[row, :len(s) + 1].tolist() == list(e.span_lengths)


def test_tagger_overfits_a_small_batch():
    b = batch(8, seed=3)
    m = tagger().train()
    t = torch.arange(1, 9)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    first = None
    for _ in range(30):
        loss = m.loss(b.ids, t, b.tags)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert m.loss(b.ids, t, b.tags).item() < 0.5 * first


@pytest.mark.parametrize("build", [tagger, generator])
def test_save_load_roundtrip_bit_identical(build, tmp_path):
    tok = Tokenizer.train(["the cat sat on the mat .", "a dog ran in the park .", "the dog sat ."], min_count=1)
    m = build(vocab_size=len(tok), seq_len=12).eval()
    save_pretrained(tmp_path / "ckpt", m, tok, {"edit_diffusion": {"steps": 12}})
    back, tok2, cfg = load_pretrained(tmp_path / "ckpt", type(m))
    assert cfg["model_type"] == m.model_type and cfg["edit_diffusion"] == {"steps": 12}
    assert back.config == m.config and tok2.vocab.words == tok.vocab.words
    for (k, a), (k2, c) in zip(m.state_dict().items(), back.state_dict().items()):
        assert k == k2 and torch.equal(a, c), k
    ids = torch.tensor([tok.encode("the cat ran .", 12), tok.encode("a dog sat on the mat", 12)])
    t = torch.tensor([1.0, 5.0])
    if isinstance(m, EditTagger):
        assert torch.equal(m(ids, t), back(ids, t))
    else:
        tags = torch.tensor([[3, 0, 2, 1, 0, 0] + [0] * 6] * 2)
        assert torch.equal(m.length_logits(ids, tags, t), back.length_logits(ids, tags, t))
        assert torch.equal(m.fill_logits(ids, t), back.fill_logits(ids, t))


def test_bad_inputs_raise_documented_errors():
    with pytest.raises(ConfigError, match="vocab_size"):
        EditTaggerConfig(vocab_size=5)
    with pytest.raises(ConfigError, match="max_span"):
        EditGeneratorConfig(vocab_size=V, max_span=0)
    with pytest.raises(ConfigError, match="colour"):
        from_dict(EditGeneratorConfig, {"vocab_size": V, "colour": 1})
    assert from_dict(EditGeneratorConfig, {"vocab_size": V, "max_span": 4}).max_span == 4
    m = tagger()
    with pytest.raises(DataError, match="START"):
        m(torch.tensor([[5, 6, END_ID]]), 1.0)
    with pytest.raises(DataError, match="seq_len"):
        m(torch.full((1, L + 1), PAD_ID).index_fill(1, torch.tensor([0]), START_ID), 1.0)
    with pytest.raises(DataError, match="t has"):
        m(encode_batch([[5, 6]], L), torch.ones(3))
    long = EditScript((Edit.INSERT,), ((5,) * (MAX_SPAN + 1),))
    with pytest.raises(DataError, match="max_span"):
        length_targets(long, MAX_SPAN)
    with pytest.raises(DataError, match="MASK"):
        placeholder_sequence([5, MASK_ID], EditScript.keep_all(2))
    with pytest.raises(DataError, match="seq_len"):
        encode_batch([[5] * (L - 1)], L)
    with pytest.raises(DataError, match="seq_len"):
        pad_targets([[0] * L], L, offset=1)


@pytest.mark.parametrize("target", ["previous", "x0"])
def test_edit_objective_pairs_undo_the_corruption(target):
    """Every training pair's script turns x_t into its target (x_{t-1} or x_0); the loss is finite per row."""
    from ctrlgen.backends.edit.edits import apply_edits as apply
    from ctrlgen.backends.edit.joint import EditModel, EditModelConfig, EditObjective, EditTrainingConfig, words_of

    torch.manual_seed(0)
    model = EditModel(EditModelConfig(vocab_size=40, seq_len=20, hidden=16, layers=1, heads=2, dropout=0.0))
    obj = EditObjective(model, EditTrainingConfig(steps=4, target=target, p_clean=0.2, p_empty=0.2))
    batch = torch.randint(5, 40, (16, 20))
    batch[:, 0], batch[:, 11], batch[:, 12:] = 1, 2, 0  # [START] 10 words [END] PAD…
    xs, scripts, ts = obj.pairs(batch, torch.Generator().manual_seed(3))
    for row, x_t, script, t in zip(batch, xs, scripts, ts):
        assert 1 <= t <= 4 and len(x_t) <= 18
        if target == "x0":
            assert apply(x_t, script) == words_of(row)
    out = obj(batch, torch.Generator().manual_seed(3))
    assert out["loss"].shape == (16,) and torch.isfinite(out["loss"]).all()
    out["loss"].mean().backward()
