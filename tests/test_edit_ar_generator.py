"""The autoregressive span generator (ctrlgen/backends/edit/ar_generator.py): layout, loss, STOP, decoding."""

import pytest
import torch

from ctrlgen.backends.edit.ar_generator import EditARGenerator, EditARGeneratorConfig, EditARObjective, Role, ar_row
from ctrlgen.backends.edit.edits import Edit, EditScript, apply_edits
from ctrlgen.backends.edit.joint import EditTrainingConfig
from ctrlgen.backends.edit.models import IGNORE_INDEX, MASK_ID, encode_batch, pad_targets
from ctrlgen.text.vocab import SPECIALS

K, D, R, I = Edit.KEEP, Edit.DELETE, Edit.REPLACE, Edit.INSERT
V = 30


def tiny(seed: int = 0) -> EditARGenerator:
    torch.manual_seed(seed)
    return EditARGenerator(EditARGeneratorConfig(vocab_size=V, seq_len=16, hidden=16, layers=1, heads=2,
                                                 dropout=0.0)).eval()


def clean_batch(rows: int = 8, words: int = 8) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return encode_batch(torch.randint(len(SPECIALS), V, (rows, words), generator=g).tolist(), 16)


def test_ar_row_layout():
    src, tags = [7, 8, 9], [I, K, R, D]
    ids, roles, tgt = ar_row(src, tags, [(10,), (), (), ()], [True, False, True, False], [11, -1, 12, -1])
    assert ids == [10, MASK_ID, 7, MASK_ID]  # slot 0: one word written + [MASK]; 8 replaced by [MASK]; 9 deleted
    assert roles == [Role.SPAN, Role.NEXT, Role.WORD, Role.FIRST]
    assert tgt == [IGNORE_INDEX, 11, IGNORE_INDEX, 12]
    ids, _, _ = ar_row(src, tags, [(10,), (), (5, 6), ()], [False, False, False, False])
    assert ids == apply_edits(src, EditScript(tuple(tags), ((10,), (), (5, 6), ())))  # finished spans: no [MASK]


def test_forward_shapes_and_masks():
    m = tiny()
    ids, roles, _ = ar_row([7, 8], [K, R, K], [(), (), ()], [False, True, False])
    x = encode_batch([ids], 16)
    r = pad_targets([roles], 16, offset=1).clamp(min=0)
    logits = m(x, r, 2.0)
    assert ids == [MASK_ID, 8] and roles == [Role.FIRST, Role.WORD]
    assert logits.shape == (1, 16, 2 * V)  # (word, go on) then (word, STOP)
    for special in (0, 1, 2, MASK_ID):  # never written, with or without STOP; UNK (3) is a word
        assert torch.isinf(logits[0, :, special]).all() and torch.isinf(logits[0, :, V + special]).all()
    assert torch.isfinite(logits[0, :, [3, 9, V + 3, V + 9]]).all()


def test_loss_is_finite_and_falls_on_a_tiny_overfit():
    m = tiny().train()
    obj = EditARObjective(m, EditTrainingConfig(steps=2, target="x0", p_clean=0.0, p_empty=0.2))
    batch = clean_batch()
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        out = obj(batch, torch.Generator().manual_seed(0))  # the same corruption every step
        assert out["loss"].shape == (8,) and torch.isfinite(out["loss"]).all()
        opt.zero_grad()
        out["loss"].mean().backward()
        opt.step()
        losses.append(float(out["loss"].mean()))
    assert losses[-1] < 0.5 * losses[0]


def test_objective_is_a_function_of_the_generator_seed():
    m = tiny()
    obj = EditARObjective(m, EditTrainingConfig(steps=3, target="x0"))
    a, b = (obj(clean_batch(), torch.Generator().manual_seed(5))["loss"] for _ in range(2))
    assert torch.equal(a, b)


def biased(cls: int) -> EditARGenerator:
    """A generator whose every output is class ``cls`` (``w`` = write w and go on, ``V + w`` = write w and STOP)."""
    m = tiny()
    with torch.no_grad():
        m.head.weight.zero_()
        m.head.bias.zero_()
        m.head.bias[cls] = 5.0
    return m


def test_stop_ends_each_span_with_its_word():
    m = biased(V + 7)
    out = m.generate_spans(encode_batch([[5, 6, 8]], 16), pad_targets([[I, R, K, R]], 16), 1.0)
    assert out.spans[0] == [[7], [7], [], [7]] and out.texts[0] == [7, 7, 6, 7]
    assert out.passes == 1  # every span is one word long: one pass
    never = torch.tensor([i % V in (0, 1, 2, MASK_ID) for i in range(2 * V)])
    lp = torch.log_softmax(m.head.bias.masked_fill(never, float("-inf")), -1)
    assert float(out.log_prob[0]) == pytest.approx(3 * float(lp[V + 7]), abs=1e-4)


def test_spans_end_at_max_span_or_when_the_text_is_full():
    m = biased(9)  # never stops on its own
    with torch.no_grad():
        m.head.bias[V + 9] = 1.0  # the best class where only STOP is allowed
    out = m.generate_spans(encode_batch([[5, 6]], 16), pad_targets([[I, K, K]], 16), 1.0)
    assert out.texts[0] == [9] * 12 + [5, 6] and out.passes == 12  # 14 = seq_len − 2 words
    m.config.max_span = 3
    out = m.generate_spans(encode_batch([[5, 6]], 16), pad_targets([[K, R, I]], 16), 1.0)
    assert out.spans[0] == [[], [9] * 3, [9] * 3] and out.passes == 3


def test_generate_writes_one_span_per_slot_no_specials_and_is_deterministic():
    m = tiny(3)
    with torch.no_grad():
        m.head.bias[V:] += 3.0  # short spans: no forced ends, so the score below covers every term
    src = [[5, 6, 7, 8], [9, 10], []]
    tags = pad_targets([[K, R, D, I, K], [I, K, R], [I]], 16)
    a = m.generate_spans(encode_batch(src, 16), tags, torch.tensor([1.0, 3.0, 6.0]))
    b = m.generate_spans(encode_batch(src, 16), tags, torch.tensor([1.0, 3.0, 6.0]))
    assert a.texts == b.texts and a.spans == b.spans and torch.equal(a.log_prob, b.log_prob)
    for s, row_tags, spans, text in zip(src, tags.tolist(), a.spans, a.texts):
        row_tags = row_tags[:len(s) + 1]
        assert [bool(sp) for sp in spans] == [tg in (R, I) for tg in row_tags]
        assert all(w >= len(SPECIALS) or w == 3 for sp in spans for w in sp)  # 3 = UNK is a word
        assert text == apply_edits(s, EditScript(tuple(row_tags), tuple(map(tuple, spans))))
    # the greedy log-prob is the teacher-forced score of the spans it wrote
    scripts = [EditScript(tuple(tg[:len(s) + 1]), tuple(map(tuple, sp))) for s, tg, sp in zip(src, tags.tolist(), a.spans)]
    lp, n = m.score_spans(src, scripts, torch.tensor([1.0, 3.0, 6.0]))
    assert torch.allclose(lp, a.log_prob, atol=1e-4)
    assert n.tolist() == [sum(len(sp) for sp in spans) for spans in a.spans]


def test_backend_trains_and_loads(tiny_toml, tmp_path):
    """backend = "edit-ar-generator" goes through ``ctrlgen train``'s trainer and checkpoint format."""
    from ctrlgen.models.pretrained import load_pretrained
    from ctrlgen.training.run import train_from_config

    text = tiny_toml(steps=2, every=2).read_text().replace("output_dir", 'backend = "edit-ar-generator"\noutput_dir', 1)
    text = text.replace("embed_dim = 8\n", "").replace("[diffusion]\nsteps = 100\n", '[diffusion]\nsteps = 3\ntarget = "x0"\n')
    cfg = tmp_path / "ar_gen.toml"
    cfg.write_text(text)
    model, _, meta = load_pretrained(train_from_config(cfg), EditARGenerator)
    assert meta["model_type"] == "edit-ar-generator" and meta["diffusion"]["target"] == "x0"
    assert model.config.max_span == model.config.seq_len - 2
