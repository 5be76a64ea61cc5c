"""One report, oracles once: each oracle labels each unique text once per call (``check``, ``satisfied``,
``score``, ``build_output``), labels are shared through the oracle memo, the memo cannot change a label, and
conflicting values of one E2E field raise ``ConstraintConflictError`` when composed.

The call-count tests are hermetic: a context-free stand-in labeller replaces the spaCy pipeline behind
``POSTagger`` (as ``tests/test_edit_pattern.py`` stands in for spaCy) and a stand-in ``ConstituencyParser``
(no benepar) replaces the parser, so the real ``tag_words`` / ``parse`` paths and their memos run. The memo
equivalence test runs the real oracles and is skipped where they are not installed.
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from nltk import Tree

from ctrlgen.constraints import syntax
from ctrlgen.constraints.base import Constraint
from ctrlgen.constraints.composition import (
    AllOf,
    PreparedConstraint,
    Weighted,
    as_constraint,
    prepare,
)
from ctrlgen.constraints.infill import Infill
from ctrlgen.constraints.length import Length
from ctrlgen.constraints.pos import POS
from ctrlgen.constraints.semantic import SemanticField
from ctrlgen.constraints.syntax import SyntaxSpans, SyntaxTree
from ctrlgen.core.output import build_output
from ctrlgen.errors import ConstraintConflictError
from ctrlgen.oracles import pos as pos_oracle
from ctrlgen.oracles.memo import LabelMemo, clear_memos
from ctrlgen.oracles.parser import DEFAULT_PARSER, ConstituencyParser
from ctrlgen.oracles.pos import POS_MODELS, POSTagger
from ctrlgen.text.e2e import read_e2e_csv
from ctrlgen.text.tokenizer import Tokenizer, split_words

FIXTURES = Path(__file__).parent / "fixtures"
TEXTS = ["The Mill is a pub .", "The Mill is a pub .", "Blue Door serves 5 dishes .", "a pub near the river .",
         "The Mill is a pub .", "Zizzi is cheap ."]
UNIQUE = len(set(TEXTS))  # 4


# ---------------------------------------------------------------------------------------- stand-ins
def upos(word: str) -> str:
    """The stand-in tagger: the same UPOS tag for a word in every context."""
    if word[:1].isdigit():
        return "NUM"
    if not word[:1].isalnum():
        return "PUNCT"
    return {"a": "DET", "the": "DET", "is": "AUX", "near": "ADP"}.get(word.lower(), "PROPN" if word[0].isupper()
                                                                         else "NOUN")


class _Token:
    def __init__(self, word: str) -> None:
        self.pos_ = self.tag_ = upos(word)


class _Pipeline:
    """Stands in for the spaCy ``Language`` (the tag memo is kept per pipeline)."""

    meta: ClassVar[dict[str, str]] = {"lang": "en", "name": "stand_in", "version": "0"}


def _branch(words: Sequence[str], label: str) -> Tree:
    leaf = Tree(upos(words[0]), [words[0]])
    return Tree(label, [leaf, _branch(words[1:], "X")]) if len(words) > 1 else Tree(label, [leaf])


class StandInParser(ConstituencyParser):
    """A ``ConstituencyParser`` without benepar: right-branching trees, ``S`` when the first word is capitalised,
    else ``FRAG``. Only the model call (``_parse_batch``) is replaced, so ``parse`` and its memo run as shipped."""

    max_words = 60

    def __init__(self, counts: Counter[str]) -> None:  # no super().__init__: nothing to load
        self.batch_size, self.counts = 64, counts
        self.memo = LabelMemo(copy=lambda tree: tree.copy(deep=True))

    def _parse_batch(self, sents: list[list[str]], tags: list[list[str]] | None) -> list[Tree]:
        self.counts["parsed"] += len(sents)
        return [Tree("TOP", [_branch(s, "S" if s[0][:1].isupper() else "FRAG")]) for s in sents]

    def parse(self, sentences: Sequence[Sequence[str]], **kw: Any) -> list[Tree]:
        self.counts["parse_calls"] += 1
        return super().parse(sentences, **kw)


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Stand-in tagger and parser behind the real oracle paths; ``counts``: sentences each oracle computed
    (``tagged``, ``parsed``) and oracle calls (``tag_calls``, ``parse_calls``)."""
    c: Counter[str] = Counter()
    pipeline = _Pipeline()
    monkeypatch.setattr(pos_oracle, "load_pos_pipeline", lambda model=None: pipeline)
    tag_words = POSTagger.tag_words

    def docs(self: POSTagger, sentences: Sequence[Sequence[str]]) -> list[list[_Token]]:
        c["tagged"] += len(sentences)
        return [[_Token(w) for w in s] for s in sentences]

    def counted_tag_words(self: POSTagger, sentences: Sequence[Sequence[str]], **kw: Any) -> list[list[str]]:
        c["tag_calls"] += 1
        return tag_words(self, sentences, **kw)

    monkeypatch.setattr(POSTagger, "docs", docs)
    monkeypatch.setattr(POSTagger, "tag_words", counted_tag_words)
    monkeypatch.setattr(syntax, "_PARSER", [StandInParser(c)])
    clear_memos()
    yield c
    clear_memos()


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer.train(TEXTS, min_count=1)


@pytest.fixture
def prepared(tok: Tokenizer) -> PreparedConstraint:
    c = POS("DET,PROPN,AUX,DET,NOUN,PUNCT") & SyntaxTree("(S (NN a) (X (NN b) (X (NN c))))") & 2.0 * Length(6)
    return prepare(c, tok, 16, "edit")


def _fresh(c: Counter[str]) -> None:
    clear_memos()
    c.clear()


# ------------------------------------------------------------------------------------ once per text
def test_check_labels_each_unique_text_once_per_leaf(counts, prepared):
    results = prepared.check(TEXTS)
    assert counts["tagged"] == UNIQUE and counts["tag_calls"] == 1
    assert counts["parsed"] == UNIQUE and counts["parse_calls"] == 1
    # the de-duplicated results are the per-text verdicts, in input order
    for r in results:
        assert r.satisfied == [r.constraint.satisfied([t])[0] for t in TEXTS]
        assert r.scores == pytest.approx([r.constraint.score([t])[0] for t in TEXTS])
    assert results[0].satisfied == [True, True, False, False, True, False]


@pytest.mark.parametrize("method", ["satisfied", "score"])
def test_satisfied_and_score_run_one_check(counts, prepared, method):
    expected = prepared.check(TEXTS)
    _fresh(counts)
    got = getattr(prepared, method)(TEXTS)
    assert (counts["tagged"], counts["tag_calls"], counts["parsed"], counts["parse_calls"]) == (UNIQUE, 1, UNIQUE, 1)
    if method == "satisfied":
        assert got == [all(r.satisfied[k] for r in expected) for k in range(len(TEXTS))]
    else:
        w = [r.weight for r in expected]
        assert got == pytest.approx([sum(wi * r.scores[k] for wi, r in zip(w, expected)) / sum(w)
                                     for k in range(len(TEXTS))])


def test_build_output_runs_the_oracles_once(counts, prepared, tok):
    ids = torch.tensor([tok.encode(t, 16) for t in TEXTS])
    out = build_output(ids, tok, prepared, seconds=0.0)
    unique = len(set(out.texts))
    assert (counts["tagged"], counts["tag_calls"], counts["parsed"], counts["parse_calls"]) == (unique, 1, unique, 1)
    per_leaf = out.report["constraints"]
    assert out.report["satisfied"] == [all(v["satisfied"][k] for v in per_leaf.values()) for k in range(len(TEXTS))]
    assert out.report["satisfied"] == prepared.satisfied(out.texts)


def test_labels_are_shared_between_report_ranking_and_proposals(counts, prepared):
    prepared.check(TEXTS)
    computed = (counts["tagged"], counts["parsed"])
    prepared.satisfied(TEXTS), prepared.score(TEXTS)  # report, ranking
    POS("DET").label_words([split_words(t) for t in TEXTS])  # the edit backend's proposals
    assert (counts["tagged"], counts["parsed"]) == computed == (UNIQUE, UNIQUE)
    prepared.check(["A new pub ."])
    assert (counts["tagged"], counts["parsed"]) == (UNIQUE + 1, UNIQUE + 1)


def test_judge_agrees_with_satisfied_and_score(counts):
    texts = TEXTS + ["The Mill is a cheap Italian pub near the river ."]
    leaves = [POS("DET,PROPN,AUX,DET,NOUN,PUNCT"), SyntaxTree("(S (NN a) (X (NN b)))"),
              SyntaxSpans("0:2:S"), Length(6, tolerance=1), Infill("The Mill is [MASK] pub ."),
              SemanticField("name", "The Mill"), Weighted(2.0, Length(6)),
              AllOf(POS("DET,NOUN,ADP,DET,NOUN,PUNCT"), 3.0 * Length(6))]
    for c in leaves:
        ok, scores = c.judge(texts)
        assert ok == c.satisfied(texts), c
        assert scores == pytest.approx(c.score(texts)), c
    assert any(POS("DET,PROPN,AUX,DET,NOUN,PUNCT").judge(texts)[0]) and not all(SyntaxSpans("0:2:S").judge(texts)[0])


# ------------------------------------------------------------------------------------------ the memo
def test_label_memo_computes_missing_once_and_is_bounded():
    calls: list[list[str]] = []

    def compute(keys: list[str]) -> list[list[str]]:
        calls.append(keys)
        return [[k.upper()] for k in keys]

    memo: LabelMemo[str, list[str]] = LabelMemo(size=3, copy=list)
    assert memo.get_many(["a", "b", "a"], compute) == [["A"], ["B"], ["A"]] and calls == [["a", "b"]]
    out = memo.get_many(["b", "c", "d"], compute)
    assert out == [["B"], ["C"], ["D"]] and calls[-1] == ["c", "d"] and len(memo) == 3  # "a" dropped (LRU)
    out[0].append("edited")  # a caller's edit does not reach the memo
    assert memo.get_many(["b"], compute) == [["B"]] and len(calls) == 2
    memo.get_many(["a"], compute)
    assert calls[-1] == ["a"] and (memo.hits, memo.misses) == (3, 5)


def test_parser_memo_hands_out_copies(counts):
    parser = syntax._PARSER[0]
    first = parser.parse([["The", "pub", "."]])[0]
    first[0].set_label("EDITED")
    again = parser.parse([["The", "pub", "."]])[0]
    assert again[0].label() == "S" and counts["parsed"] == 1


def _sentences() -> list[list[str]]:
    """~50 distinct word lists of varied length: the fixture references, their halves, and splices."""
    refs = [e.ref for e in read_e2e_csv(FIXTURES / "tiny_e2e.csv")]
    refs += [e.ref for e in read_e2e_csv(FIXTURES / "targets_e2e.csv", parse_mrs=False)]
    words = [split_words(r) for r in refs]
    out = words + [w[:max(1, len(w) // 2)] for w in words]
    out += [a[:len(a) // 2] + b[len(b) // 2:] for a, b in zip(words, words[1:] + words[:1], strict=True)]
    out += [a[len(a) // 2:] + b[:len(b) // 2] for a, b in zip(words, words[2:] + words[:2], strict=True)]
    return list(map(list, dict.fromkeys(map(tuple, out))))[:52]


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.mark.skipif(not any(_has(m) for m in POS_MODELS), reason="no spaCy English model installed")
def test_tagger_memo_gives_the_unmemoised_tags():
    sents = _sentences()
    assert len(sents) >= 48
    tagger = POSTagger()
    alone = [[t.pos_ for t in next(iter(tagger.docs([s])))] for s in sents]
    batch = [[t.pos_ for t in d] for d in tagger.docs(sents)]
    assert batch == alone  # spaCy tags a sentence the same alone or in a batch: the memo is safe
    clear_memos()
    half = tagger.tag_words(sents[::2])  # memo warm with every other sentence, then the rest in one batch
    assert half == alone[::2] and tagger.tag_words(sents) == alone


@pytest.mark.skipif(not (_has("benepar") and DEFAULT_PARSER.is_file()), reason="benepar or the bundled parser missing")
def test_parser_memo_gives_the_unmemoised_trees():
    from ctrlgen.oracles.parser import load_parser

    sents = _sentences()
    parser = load_parser()
    alone = [str(parser.parse_uncached([s])[0]) for s in sents]
    assert [str(t) for t in parser.parse_uncached(sents)] == alone  # batching does not change a parse
    parser.memo.clear()
    assert [str(t) for t in parser.parse(sents[1::2])] == alone[1::2]
    assert [str(t) for t in parser.parse(sents)] == alone


# ------------------------------------------------------------------------------------------ conflicts
def test_one_field_two_values_conflict_when_composed():
    with pytest.raises(ConstraintConflictError) as e:
        SemanticField("food", "Chinese") & SemanticField("food", "Japanese")
    assert "Chinese" in str(e.value) and "Japanese" in str(e.value) and "pick one" in e.value.hint
    with pytest.raises(ConstraintConflictError, match="Japanese"):
        as_constraint(["food=Chinese", "length=12", "food=Japanese"])  # the CLI's repeated --constraint
    with pytest.raises(ConstraintConflictError):
        Length(12) & (SemanticField("food", "Chinese") & 2.0 * (Length(12) & SemanticField("food", "Italian")))


def test_same_value_or_other_fields_compose():
    c = as_constraint(["food=Chinese", "food=Chinese", "area=riverside"])
    assert [type(leaf).__name__ for _, leaf in c.leaves()] == ["SemanticField"] * 3
    assert (SemanticField("food", "Chinese") & SemanticField("near", "Café Adriatic")).satisfied(
        ["Chinese food near Café Adriatic ."]) == [True]


# ---------------------------------------------------------------------------- leaves without a check face
class _NoCheck(Constraint):
    """A leaf with a hard face that fixes nothing and no check face (like a plug-in classifier alone)."""

    faces = frozenset({"hard"})

    def __repr__(self) -> str:
        return "NoCheck()"


def test_a_leaf_without_check_face_is_unchecked_never_satisfied(tokenizer) -> None:
    from ctrlgen.constraints.composition import prepare
    from ctrlgen.constraints.length import Length
    from ctrlgen.core.output import build_output

    texts = ["The Mill is a pub .", "The Mill is a big pub near the river ."]
    ids = torch.stack([torch.tensor(tokenizer.encode(t, 24)) for t in texts])
    alone = prepare(_NoCheck(), tokenizer, 24, "embedding")
    out = build_output(ids, tokenizer, alone)
    assert out.report["satisfied"] == [None, None] and out.report["unchecked"] == ["NoCheck()"]
    both = prepare(_NoCheck() & Length(6), tokenizer, 24, "embedding")
    out = build_output(ids, tokenizer, both)
    assert out.report["satisfied"] == [None, False]  # checked leaf holds → unknown; fails → False, never True
    assert both.satisfied(texts) == [None, False]
    checked = build_output(ids, tokenizer, prepare(Length(6), tokenizer, 24, "embedding"))
    assert checked.report["satisfied"] == [True, False] and "unchecked" not in checked.report
