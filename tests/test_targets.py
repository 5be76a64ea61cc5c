"""Control targets: JSON-lines round trips, Diffusion-LM's semantic field names, builders on a tiny CSV."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctrlgen.errors import ConfigError, DataError
from ctrlgen.evaluation.target_builders import (
    LONG_WORDS,
    examples_between,
    infill_targets,
    length_targets,
    long_targets,
    pos_targets,
    semantic_targets,
    span_targets,
    tree_targets,
)
from ctrlgen.evaluation.targets import (
    DLM_FIELD_WORDS,
    TARGET_KINDS,
    InfillCase,
    LengthTarget,
    PosTarget,
    SemanticTarget,
    SpanTarget,
    TreeTarget,
    field_from_words,
    field_words,
    read_targets,
    write_targets,
)
from ctrlgen.oracles.metrics import constituent_spans
from ctrlgen.text.e2e import E2E_FIELDS, E2EExample, read_e2e_csv
from ctrlgen.text.tokenizer import split_words

CSV = Path(__file__).parent / "fixtures" / "targets_e2e.csv"
DISTINCT_REFS = 5  # the fixture has 6 rows, one reference twice

# Lines as they appear in Diffusion-LM's datasets/control_target files (with the "\n" word).
DLM_POS = ('{"pos": ["START", "PROPN", "AUX", "DET", "NOUN", "PUNCT", "PROPN", "END"], '
           '"words_": ["START", "Zizzi", "is", "a", "pub", ".", "\\n", "END"]}')
DLM_SPANS = ('{"words_": ["START", "The", "Vaults", "is", "a", "Chinese", "restaurant", ".", "\\n", "END"], '
             '"spans": [[3, 5, "NP"]]}')
DLM_SEMANTIC = '["customer", "rating", ":", "5", "out", "of", "5"]'

HAND_MADE = [
    PosTarget(("The", "Vaults", "is", "a", "pub", "."), ("DET", "PROPN", "AUX", "DET", "NOUN", "PUNCT")),
    SpanTarget(("The", "Vaults", "is", "a", "Chinese", "restaurant", "."), ((3, 5, "NP"), (0, 1, "NP"))),
    SemanticTarget("near", "Café Adriatic"),
    TreeTarget("(TOP (S (NP (DT The) (NNP Vaults)) (VP (VBZ is) (NP (DT a) (NN pub))) (. .)))"),
    LengthTarget(12),
    LengthTarget(3, ("The", "pub", ".")),
    InfillCase("The Vaults is a [MASK:2] near Café Adriatic .", "The Vaults is a cheap pub near Café Adriatic ."),
]


@pytest.mark.parametrize("target", HAND_MADE, ids=lambda t: t.kind)
def test_round_trip_each_format(tmp_path: Path, target) -> None:
    path = tmp_path / f"{target.kind}.jsonl"
    assert write_targets(path, [target, target]) == 2
    assert read_targets(path, target.kind) == [target, target]
    line = path.read_text(encoding="utf-8").splitlines()[0]
    assert TARGET_KINDS[target.kind].from_record(json.loads(line)) == target


def test_records_use_diffusion_lm_layout() -> None:
    pos = HAND_MADE[0].to_record()
    assert pos["pos"][0] == pos["words_"][0] == "START" and pos["pos"][-1] == pos["words_"][-1] == "END"
    assert pos["words_"][2] == "Vaults"  # words_[p] is the word at sequence position p
    assert HAND_MADE[1].to_record()["spans"] == [[3, 5, "NP"], [0, 1, "NP"]]
    assert HAND_MADE[2].to_record() == ["near", ":", "Café", "Adriatic"]
    assert LengthTarget(12).to_record() == {"length": 12}


def test_reads_diffusion_lm_lines_and_drops_newline_word(tmp_path: Path) -> None:
    (tmp_path / "pos.json").write_text(DLM_POS + "\n\n", encoding="utf-8")  # blank lines are skipped
    [pos] = read_targets(tmp_path / "pos.json", "pos")
    assert pos.words == ("Zizzi", "is", "a", "pub", ".") and pos.tags == ("PROPN", "AUX", "DET", "NOUN", "PUNCT")
    (tmp_path / "spans.json").write_text(DLM_SPANS + "\n", encoding="utf-8")
    [spans] = read_targets(tmp_path / "spans.json", "spans")
    assert spans.spans == ((3, 5, "NP"),) and spans.words[-1] == "."
    (tmp_path / "attr.json").write_text(DLM_SEMANTIC + "\n", encoding="utf-8")
    [sem] = read_targets(tmp_path / "attr.json", "semantic")
    assert sem == SemanticTarget("customer rating", "5 out of 5")
    assert json.dumps(sem.to_record()) == DLM_SEMANTIC


def test_semantic_value_spacing_is_word_level() -> None:
    written = SemanticTarget("priceRange", "£20-25").to_record()
    assert written == ["price", ":", "£", "20", "-", "25"]
    back = SemanticTarget.from_record(written)
    assert back.field == "priceRange" and back.value_words == split_words("£20-25")


def test_semantic_field_names_map_both_ways() -> None:
    assert set(DLM_FIELD_WORDS) == set(E2E_FIELDS)
    expected = {"name": ["name"], "eatType": ["Type"], "food": ["food"], "priceRange": ["price"],
                "customer rating": ["customer", "rating"], "area": ["area"],
                "familyFriendly": ["family", "friendly"], "near": ["near"]}
    for field, words in expected.items():
        assert field_words(field) == words
        assert field_from_words(words) == field
        assert field_from_words(field.split()) == field  # the E2E spelling is accepted too
    assert field_from_words(["customer"]) == "customer rating"  # first word of a two-word field
    assert field_from_words(["family"]) == "familyFriendly"
    with pytest.raises(DataError, match="unknown semantic field"):
        field_from_words(["colour"])
    with pytest.raises(ConfigError, match="unknown E2E field"):
        field_words("Type")  # Diffusion-LM's name, not an E2E field


def test_bad_records_raise_data_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(DLM_POS + '\n{"pos": ["START", "DET", "END"]}\n', encoding="utf-8")
    with pytest.raises(DataError, match="bad.jsonl line 2") as e:
        read_targets(path, "pos")
    assert "words_" in e.value.hint
    path.write_text('{"words_": ["START", "The", "END"], "spans": [[0, 4, "NP"]]}\n', encoding="utf-8")
    with pytest.raises(DataError, match="line 1"):
        read_targets(path, "spans")
    path.write_text('{"template": "The [MASK:0] pub .", "reference": "The pub ."}\n', encoding="utf-8")
    with pytest.raises(DataError, match="line 1: a hole needs at least one token"):
        read_targets(path, "infill")
    with pytest.raises(ConfigError, match="kinds are"):
        read_targets(path, "colour")
    with pytest.raises(DataError, match="one tag per word"):
        PosTarget(("The", "pub"), ("DET",))
    with pytest.raises(DataError, match="no hole"):
        InfillCase("The Vaults is a pub .", "The Vaults is a pub .")
    with pytest.raises(DataError, match="leaves"):
        TreeTarget("(S (NP (DT The) (NN pub)))", ("The",))


def test_infill_hole_positions_count_from_start() -> None:
    case = InfillCase("The Vaults is a [MASK:3] pub near [MASK] .", "")
    assert case.holes == [5, 6, 7, 10]  # [START] = 0, "The" = 1
    assert case.n_hole_tokens == 4


# ----------------------------------------------------------------------------------------- builders
def test_length_targets_use_each_distinct_reference_once() -> None:
    got = length_targets(CSV)
    assert len(got) == DISTINCT_REFS
    assert got[1] == LengthTarget(8, ("The", "Vaults", "pub", "is", "near", "Café", "Adriatic", "."))
    assert [t.length for t in got] == [len(t.words) for t in got]
    picked = length_targets(read_e2e_csv(CSV), n=2, seed=3)  # rows work as well as a path
    assert len(picked) == 2 and picked == length_targets(CSV, n=2, seed=3)  # seeded: reproducible
    assert set(picked) <= set(got)


def test_semantic_targets_are_distinct_field_values_in_field_order() -> None:
    got = semantic_targets(CSV)
    pairs = [(t.field, t.value) for t in got]
    assert len(pairs) == len(set(pairs))
    assert pairs[:3] == [("name", "The Vaults"), ("name", "Zizzi"), ("name", "Blue Spice")]
    assert ("priceRange", "£20-25") in pairs and ("familyFriendly", "no") in pairs
    assert [E2E_FIELDS.index(f) for f, _ in pairs] == sorted(E2E_FIELDS.index(f) for f, _ in pairs)
    assert semantic_targets(CSV, fields=["food"]) == [SemanticTarget("food", "Japanese")]
    with pytest.raises(ConfigError):
        semantic_targets(CSV, fields=["Type"])


def test_pos_targets_with_a_given_tagger() -> None:
    seen: list[list[str]] = []

    def fake_tag(sentences: list[list[str]]) -> list[list[str]]:  # batched, like POSTagger.tag_words
        seen.extend(sentences)
        return [["X"] * len(s) for s in sentences]

    got = pos_targets(CSV, n=3, seed=0, tag=fake_tag)
    assert len(got) == 3 and [list(t.words) for t in got] == seen
    assert all(set(t.tags) == {"X"} and len(t.tags) == len(t.words) for t in got)


def test_infill_targets_fill_back_to_the_reference() -> None:
    for case in infill_targets(CSV, seed=1, fraction=0.3):
        ref = split_words(case.reference)
        holes = case.holes
        assert holes == list(range(holes[0], holes[0] + len(holes)))  # one contiguous hole
        assert 1 < holes[0] and holes[-1] < len(ref)  # at least one word kept on each side
        assert len(holes) == max(1, round(0.3 * len(ref)))
        k = len(holes)
        filled = case.template.replace(f"[MASK:{k}]", " ".join(ref[holes[0] - 1:holes[-1]]))
        assert split_words(filled) == ref
    with pytest.raises(ConfigError, match="fraction"):
        infill_targets(CSV, fraction=1.0)


def _right_branching(sentences: list[list[str]]) -> list[str]:
    """A stand-in parser: (S (NP w1) (VP w2 (VP w3 …)))."""
    def build(words: list[str]) -> str:
        return f"(XX {words[0]})" if len(words) == 1 else f"(VP (XX {words[0]}) {build(words[1:])})"

    return [f"(TOP (S (NP (XX {s[0]})) {build(s[1:])}))" for s in sentences]


def test_tree_and_span_targets_take_a_parser(tmp_path: Path) -> None:
    trees = tree_targets(CSV, _right_branching, n=2, seed=0)
    assert len(trees) == 2 and all(len(t.words) == len(split_words(" ".join(t.words))) for t in trees)
    write_targets(tmp_path / "trees.jsonl", trees)
    assert read_targets(tmp_path / "trees.jsonl", "tree") == trees
    spans = span_targets(CSV, _right_branching, seed=0)
    assert len(spans) == DISTINCT_REFS
    for t in spans:
        [(i, j, label)] = t.spans
        tree = _right_branching([list(t.words)])[0]
        assert (i, j, label) in constituent_spans(tree)


# ------------------------------------------------------------------------------------------ long targets
def _rows(lengths: list[int]) -> list[E2EExample]:
    """Made-up references of the given word counts (``w0 … wk .``), distinct per length."""
    return [E2EExample({"name": "X"}, " ".join(f"w{k}x{m}" for k in range(m - 1)) + " .") for m in lengths]


LENGTHS = [8, 19, 20, 21, 25, 30, 46, 47, 60]


def test_examples_between_keeps_the_word_range_inclusive() -> None:
    got = [len(split_words(e.ref)) for e in examples_between(_rows(LENGTHS), 20, 46)]
    assert got == [20, 21, 25, 30, 46]
    with pytest.raises(ConfigError, match="min_words <= max_words"):
        examples_between(_rows(LENGTHS), 30, 20)


@pytest.mark.parametrize("task", ["pos", "tree", "spans"])
def test_long_targets_are_long_fit_the_model_and_are_seeded(task: str) -> None:
    tag = (lambda sents: [["NOUN"] * len(s) for s in sents]) if task == "pos" else None
    kw = {"tag": tag, "parse": _right_branching}
    got = long_targets(task, _rows(LENGTHS), seq_len=48, n=3, seed=1, **kw)
    assert len(got) == 3
    for t in got:
        assert LONG_WORDS <= len(t.words) <= 48 - 2  # long, and START + words + END fit seq_len
        if task == "pos":
            assert len(t.tags) == len(t.words)
        if task == "tree":
            assert len(split_words(" ".join(t.words))) == len(t.words)
    assert got == long_targets(task, _rows(LENGTHS), seq_len=48, n=3, seed=1, **kw)  # reproducible
    others = [long_targets(task, _rows(LENGTHS), seq_len=48, n=3, seed=s, **kw) for s in range(2, 8)]
    assert any(o != got for o in others)  # the seed picks the references
    short = long_targets(task, _rows(LENGTHS), seq_len=23, n=None, **kw)  # seq_len 23: at most 21 words
    assert sorted(len(t.words) for t in short) == [20, 21]


def test_long_targets_refuse_what_they_cannot_build() -> None:
    with pytest.raises(ConfigError, match="no long targets"):
        long_targets("semantic", _rows(LENGTHS), seq_len=48)
    with pytest.raises(DataError, match="no reference has 20 to 46 words"):
        long_targets("pos", _rows([8, 12]), seq_len=48, tag=lambda s: [["X"] * len(w) for w in s])
    with pytest.raises(ConfigError, match="need a parser"):
        long_targets("tree", _rows(LENGTHS), seq_len=48)


@pytest.mark.parametrize("task", ["pos", "tree", "spans"])
def test_max_words_bounds_the_targets_from_above(task: str) -> None:
    tag = (lambda sents: [["NOUN"] * len(s) for s in sents]) if task == "pos" else None
    kw = {"tag": tag, "parse": _right_branching}
    every = long_targets(task, _rows(LENGTHS), seq_len=48, n=None, min_words=1, **kw)
    for top in (8, 12, 21, 100):
        got = long_targets(task, _rows(LENGTHS), seq_len=48, n=None, min_words=1, max_words=top, **kw)
        assert [t for t in every if len(t.words) <= top] == got  # exactly those that fit both bounds, in order
    with pytest.raises(DataError, match="no reference has 1 to 3 words"):
        long_targets(task, _rows(LENGTHS), seq_len=48, min_words=1, max_words=3, **kw)
