"""The constituency-parser oracle: treebank cleanup, loading errors, and the bundled benepar model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from nltk import Tree

from ctrlgen.errors import ConfigError, CtrlgenError
from ctrlgen.oracles.metrics import constituent_spans, tree_f1
from ctrlgen.oracles.parser import (
    DEFAULT_PARSER,
    ConstituencyParser,
    ParserNotFoundError,
    clean_ptb_tree,
    load_parser,
    strip_function_tags,
)

PTB = """(S (NP-SBJ-1 (NNP Vinken)) (VP (VBZ is) (NP-PRD (NP (NN chairman)) (PP (IN of)
        (NP (NP (-LRB- -LRB-) (NNP Elsevier) (-RRB- -RRB-)) (SBAR (WHNP-2 (-NONE- 0)) (S (NP-SBJ (-NONE- *T*-2))))))))
        (S-ADV (NP-SBJ (-NONE- *-1)) (VP (-NONE- *?*))) (. .))"""


# ------------------------------------------------------------------------------------- cleanup
def test_strip_function_tags() -> None:
    assert [strip_function_tags(x) for x in ("NP-SBJ-1", "NP=2", "PP-LOC-CLR", "S", "-LRB-", "-NONE-", "PRP$")] == \
        ["NP", "NP", "PP", "S", "-LRB-", "-NONE-", "PRP$"]


def test_clean_ptb_tree_strips_traces_tags_and_wraps_in_top() -> None:
    clean = clean_ptb_tree(Tree.fromstring(PTB))
    assert clean is not None
    expected = ("(TOP (S (NP (NNP Vinken)) (VP (VBZ is) (NP (NP (NN chairman)) (PP (IN of) "
                "(NP (NP (-LRB- -LRB-) (NNP Elsevier) (-RRB- -RRB-)))))) (. .)))")
    assert clean.pformat(margin=1 << 30) == expected
    # traces, the SBAR / S-ADV they emptied, and every function tag are gone; -LRB- survives
    labels = {t.label() for t in clean.subtrees()}
    assert "-NONE-" not in labels and "SBAR" not in labels and not any("-" in x[1:-1] for x in labels)


def test_clean_ptb_tree_keeps_input_and_does_not_double_wrap() -> None:
    src = Tree.fromstring("(TOP (NP-HLN (NN Review) (: :)))")
    before = src.pformat()
    assert str(clean_ptb_tree(src)) == "(TOP (NP (NN Review) (: :)))"
    assert src.pformat() == before  # not modified in place
    assert str(clean_ptb_tree(Tree.fromstring("( (S (NN x)))"))) == "(TOP (S (NN x)))"  # raw .mrg root
    assert clean_ptb_tree(Tree.fromstring("(S (NP-SBJ (-NONE- *)))")) is None


# --------------------------------------------------------------------------------------- errors
def test_missing_model_file_raises_with_hint(tmp_path: Path) -> None:
    with pytest.raises(ParserNotFoundError) as e:
        load_parser(tmp_path / "nope.pt")
    assert isinstance(e.value, CtrlgenError) and "train_parser" in e.value.hint


def test_missing_benepar_raises_with_install_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "parser.pt"
    f.write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "benepar", None)  # makes `import benepar` fail
    with pytest.raises(ParserNotFoundError) as e:
        ConstituencyParser(f)
    assert "pip install benepar" in e.value.hint


def test_unreadable_model_file_raises(tmp_path: Path) -> None:
    pytest.importorskip("benepar")
    f = tmp_path / "parser.pt"
    f.write_bytes(b"not a torch file")
    with pytest.raises(ParserNotFoundError, match="cannot load"):
        ConstituencyParser(f)


# ------------------------------------------------------------------------------ bundled parser
@pytest.fixture(scope="module")
def parser() -> ConstituencyParser:
    pytest.importorskip("benepar")
    if not DEFAULT_PARSER.is_file():
        pytest.skip(f"bundled parser missing: {DEFAULT_PARSER}")
    return load_parser()


def test_bundled_parser_parses_word_lists(parser: ConstituencyParser) -> None:
    sents = [["The", "Vaults", "is", "a", "cheap", "pub", "near", "Café", "Adriatic", "."],
             ["Zizzi", "serves", "Japanese", "food", "."], ["Hello"]]
    trees = parser.parse(sents)
    assert len(trees) == 3 and load_parser() is parser  # cached
    for words, tree in zip(sents, trees, strict=True):
        assert isinstance(tree, Tree) and tree.label() == "TOP"
        assert tree.leaves() == words  # input order kept although batches are sorted by length
        assert tree_f1(tree, tree) == 1.0
        assert Tree.fromstring(tree.pformat(margin=1 << 30)) == tree  # round-trips as a string
    assert trees[0].pos()[-1] == (".", ".")  # PTB tags: EVALB deletes the full stop
    assert any(lab == "S" for _, _, lab in constituent_spans(trees[0]))


def test_bundled_parser_edge_cases(parser: ConstituencyParser) -> None:
    assert parser.parse([]) == []
    empty, one = parser.parse([[], ["a", "(", "b", ")"]])
    assert empty == Tree("TOP", []) and one.leaves() == ["a", "-LRB-", "b", "-RRB-"]
    gold = parser.parse([["The", "pub", "."]], tags=[["DT", "NN", "."]])[0]
    assert [t for _, t in gold.pos()] == ["DT", "NN", "."]
    assert parser.parse_texts(["The pub is cheap."])[0].leaves() == ["The", "pub", "is", "cheap", "."]
    with pytest.raises(ConfigError):
        parser.parse(["The", "pub"])  # type: ignore[list-item]
    with pytest.raises(ConfigError):
        parser.parse([["The", "pub"]], tags=[["DT"]])
