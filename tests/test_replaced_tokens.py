"""The replaced-token detector (:mod:`ctrlgen.oracles.replaced_tokens`): one score per word of the library's split,
independent of the batch, windows for long texts, documented errors; and the bundled one tells a clean text from a
broken fill."""

from __future__ import annotations

import pytest
import torch

from ctrlgen import Infill
from ctrlgen.constraints.base import ConstraintError
from ctrlgen.constraints.fill_check import RTD_TAU
from ctrlgen.errors import CheckpointError, DataError
from ctrlgen.models.pretrained import save_pretrained
from ctrlgen.oracles.replaced_tokens import (
    DetectorConfig,
    ReplacedTokenDetector,
    bundled_detector,
    load_detector,
)
from ctrlgen.text.tokenizer import Tokenizer, split_words

CORPUS = ["The Vaults is a cheap pub near Café Rouge .", "Zizzi serves Italian food in the city centre .",
          "It is a family friendly coffee shop , it's cheap ."]


def tiny(seq_len: int = 12) -> ReplacedTokenDetector:
    torch.manual_seed(0)
    tok = Tokenizer.train(CORPUS, min_count=1)
    det = ReplacedTokenDetector(DetectorConfig(vocab_size=len(tok.vocab), hidden=16, layers=1, heads=2,
                                               seq_len=seq_len)).eval()
    det.tokenizer = tok
    return det


def test_one_probability_per_word_of_split_words_and_the_batch_does_not_matter():
    det = tiny()
    texts = [*CORPUS, "", "Unknown words like Zanzibar count too ."]
    p = det.p_replaced(texts)
    assert [len(q) for q in p] == [len(split_words(t)) for t in texts]
    assert all(0.0 <= x <= 1.0 for q in p for x in q)
    alone = [det.p_replaced([t])[0] for t in texts]
    for a, b in zip(p, alone, strict=True):
        assert a == pytest.approx(b, abs=1e-6)


def test_a_text_longer_than_the_model_is_scored_in_windows():
    det = tiny(seq_len=8)  # 6 words a window
    text = " ".join(["The Vaults is a cheap pub ."] * 3)  # 21 words
    p = det.p_replaced([text])[0]
    words = split_words(text)
    assert len(p) == len(words)
    assert p[:6] == pytest.approx(det.p_replaced_words([words[:6]])[0], abs=1e-6)
    assert p[-3:] == pytest.approx(det.p_replaced_words([words[-6:]])[0][-3:], abs=1e-6)


def test_bad_input_raises_the_documented_errors(tmp_path):
    det = tiny()
    with pytest.raises(DataError, match="list of texts"):
        det.p_replaced("The Vaults is a pub .")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="batch_size"):
        det.p_replaced(CORPUS, batch_size=0)
    with pytest.raises(DataError, match="one length"):
        det.encode([["a", "pub"], ["a"]])
    det.tokenizer = None
    with pytest.raises(CheckpointError, match="tokenizer"):
        det.p_replaced(CORPUS)
    with pytest.raises(CheckpointError, match="train_rtd"):
        load_detector(tmp_path / "missing")


def test_save_load_round_trip(tmp_path):
    det = tiny()
    save_pretrained(tmp_path / "rtd", det, det.tokenizer)
    back = load_detector(tmp_path / "rtd")
    assert back.p_replaced(CORPUS) == det.p_replaced(CORPUS)


def test_infill_fails_a_fill_the_detector_flags_and_only_near_a_hole():
    template, fill = "The Vaults is a [MASK] pub near Café Rouge .", "The Vaults is a cheap pub near Café Rouge ."
    assert Infill(template, detector=None).satisfied([fill]) == [True]
    assert Infill(template).detector == "e2e-rtd"  # on by default since the tenth set (issue 18)
    assert Infill(template, detector="e2e-rtd").satisfied([fill]) == [True]  # the bundled gate passes a clean fill
    det = tiny()
    with torch.no_grad():
        det.head.bias.fill_(-20.0)  # nothing looks replaced: the rules alone
        assert Infill(template, detector=det).satisfied([fill]) == [True]
        det.head.bias.fill_(20.0)  # everything looks replaced
        assert Infill(template, detector=det).satisfied([fill]) == [False]
    assert Infill(template, detector=det)._near_holes() == [3, 4, 5]  # 'a', the hole 'cheap', 'pub'
    with pytest.raises(ConstraintError, match="detector"):
        Infill(template, detector="another")


def test_the_bundled_detector_scores_a_clean_sentence_below_the_gate_and_a_broken_fill_above():
    det = bundled_detector()
    clean, broken = det.p_replaced(["Zizzi serves Italian food in the city centre .",
                                    "The Vaults is a the near near pub Café Rouge ."])
    assert max(clean) < RTD_TAU
    assert max(broken[4:7]) > RTD_TAU  # 'the near near'
