import json

import pytest

from ctrlgen.errors import DataError, MRParseError
from ctrlgen.text.dataset import encode_corpus
from ctrlgen.text.e2e import parse_mr, read_e2e_csv
from ctrlgen.text.tokenizer import Tokenizer
from ctrlgen.text.vocab import SPECIALS, Vocabulary


def test_parse_mr():
    mr = "name[The Vaults], eatType[pub], priceRange[more than £30], customer rating[5 out of 5], near[Café Adriatic]"
    assert parse_mr(mr) == {"name": "The Vaults", "eatType": "pub", "priceRange": "more than £30",
                            "customer rating": "5 out of 5", "near": "Café Adriatic"}


@pytest.mark.parametrize("bad", ["name[The Vaults", "name[A] eatType[pub]", "colour[red]", "name[A], name[B]", "",
                                 "name[A],, food[x]"])
def test_parse_mr_malformed_names_where(bad):
    with pytest.raises(MRParseError, match="row 7"):
        parse_mr(bad, "row 7")


def test_csv_errors_name_line(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text('mr,ref\n"name[A]",A is a pub.\n"name[B",B is a pub.\n')
    with pytest.raises(MRParseError, match="d.csv line 3"):
        read_e2e_csv(p)
    p.write_text("")
    with pytest.raises(DataError, match="empty"):
        read_e2e_csv(p)
    p.write_text("mr,text\nx,y\n")
    with pytest.raises(DataError, match="ref"):
        read_e2e_csv(p)
    p.write_text("mr,ref\n")
    with pytest.raises(DataError, match="no rows"):
        read_e2e_csv(p)
    with pytest.raises(DataError, match="does not exist"):
        read_e2e_csv(tmp_path / "missing.csv")


def test_vocab_specials_and_threshold(tiny_texts):
    tok = Tokenizer.train(tiny_texts, min_count=3)
    v = tok.vocab
    assert tuple(v.words[:len(SPECIALS)]) == SPECIALS
    assert (v.pad_id, v.start_id, v.end_id, v.unk_id, v.mask_id) == (0, 1, 2, 3, 4)
    assert "Mill" in v and "riverside" not in v  # riverside occurs twice
    assert v.id("riverside") == v.unk_id


def test_encode_decode_roundtrip(tokenizer, tiny_texts):
    for text in tiny_texts:
        ids = tokenizer.encode(text, 24)
        assert len(ids) == 24 and ids[0] == tokenizer.vocab.start_id
        assert tokenizer.decode(ids) == text


def test_detokenisation_rules(tokenizer):
    assert tokenizer.detokenize(["It", "is", "n't", "family", "-", "friendly", ",", "it", "costs", "£", "30", "."]) \
        == "It isn't family-friendly, it costs £30."


def test_encode_too_long_raises(tokenizer):
    with pytest.raises(DataError, match="seq_len"):
        tokenizer.encode("The Mill " * 20, 24)


def test_json_roundtrip(tokenizer, tmp_path):
    tokenizer.save(tmp_path)
    back = Tokenizer.load(tmp_path)
    assert back.vocab.words == tokenizer.vocab.words
    assert back.attach_left == tokenizer.attach_left and back.attach_right == tokenizer.attach_right
    d = json.loads((tmp_path / "tokenizer.json").read_text())
    d["format"] = "other"
    (tmp_path / "tokenizer.json").write_text(json.dumps(d))
    from ctrlgen.errors import CheckpointError
    with pytest.raises(CheckpointError, match="format"):
        Tokenizer.load(tmp_path)


def test_encode_corpus_drops_long(tokenizer, tiny_texts):
    data = encode_corpus(tiny_texts + ["The Mill " * 20], tokenizer, 24)
    assert data.shape == (len(tiny_texts), 24)


def test_vocabulary_rejects_missing_specials():
    from ctrlgen.errors import CheckpointError
    with pytest.raises(CheckpointError):
        Vocabulary(["a", "b"])


def test_detokenize_never_glues_two_word_characters(tokenizer):
    """``30`` attaches to ``£`` in the data, but after a word it stays apart; contractions still glue."""
    from ctrlgen.text.tokenizer import Tokenizer

    tok = Tokenizer(tokenizer.vocab, attach_left={"30", "n't", "."}, attach_right={"£"})
    assert tok.detokenize(["costs", "£", "30", "."]) == "costs £30."
    assert tok.detokenize(["more", "than", "30", "pounds", "."]) == "more than 30 pounds."
    assert tok.detokenize(["it", "does", "n't", "."]) == "it doesn't."
