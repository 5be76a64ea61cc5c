"""Control metrics on hand-made cases whose answers are worked out by hand in the comments."""

from __future__ import annotations

import json
import math

import pytest
from nltk import Tree

from ctrlgen.errors import ConfigError, DataError
from ctrlgen.oracles.metrics import (
    BracketCounts,
    bracket_counts,
    constituent_spans,
    corpus_tree_f1,
    infill_bleu4,
    infill_rouge_l,
    labelled_brackets,
    length_success,
    pos_match,
    positions_to_word_span,
    read_span_target,
    semantic_success,
    span_success,
    tree_f1,
    word_span_to_positions,
)

# Gold (punct deleted, 4 words): S(0,4) NP(0,2) VP(2,4) ADJP(3,4).
# Pred: S(0,4) NP(0,1) VP(1,4) ADJP(3,4) — ADJP swallows "." but that word is deleted.
GOLD_PUNCT = "(TOP (S (NP (DT The) (NN pub)) (VP (VBZ is) (ADJP (JJ cheap))) (. .)))"
PRED_PUNCT = "(TOP (S (NP (DT The)) (VP (NN pub) (VBZ is) (ADJP (JJ cheap) (. .)))))"
# Unary chain S→VP over both words: S(0,2) VP(0,2) NP(1,2).
GOLD_UNARY = "(TOP (S (VP (VB Eat) (NP (NN food)))))"
PRED_DUP = "(TOP (S (VP (VB Eat) (NP (NP (NN food))))))"  # NP(1,2) twice
PRED_NO_S = "(TOP (VP (VB Eat) (NP (NN food))))"  # VP(0,2) NP(1,2)
VAULTS = "(TOP (S (NP (DT The) (NNP Vaults)) (VP (VBZ is) (NP (DT a) (JJ Chinese) (NN restaurant))) (. .)))"


# ------------------------------------------------------------------------------------ tree F1
def test_identical_trees_score_one() -> None:
    assert tree_f1(GOLD_PUNCT, GOLD_PUNCT) == 1.0
    assert tree_f1(Tree.fromstring(VAULTS), VAULTS) == 1.0  # nltk.Tree and str both accepted


def test_punctuation_is_deleted_before_spans() -> None:
    # matched S, ADJP: P = R = 2/4 -> F1 0.5
    assert bracket_counts(PRED_PUNCT, GOLD_PUNCT) == BracketCounts(matched=2, pred=4, gold=4)
    assert tree_f1(PRED_PUNCT, GOLD_PUNCT) == 0.5
    # keeping "." (Diffusion-LM's scoring): gold S(0,5) NP(0,2) VP(2,4) ADJP(3,4),
    # pred S(0,5) NP(0,1) VP(1,5) ADJP(3,5): only S matches -> 2·1 / 8
    assert tree_f1(PRED_PUNCT, GOLD_PUNCT, punct_tags=()) == 0.25


def test_bracket_left_empty_is_dropped_and_brackets_kept() -> None:
    t = "(TOP (S (NP (NN a)) (PRN (, ,)) (VP (VB b))))"
    assert labelled_brackets(t) == {(0, 2, "S"): 1, (0, 1, "NP"): 1, (1, 2, "VP"): 1}
    assert labelled_brackets(t, punct_tags=()) == {(0, 3, "S"): 1, (0, 1, "NP"): 1, (1, 2, "PRN"): 1, (2, 3, "VP"): 1}
    # COLLINS.prm keeps -LRB- -RRB- (and # $) as words
    assert labelled_brackets("(S (NP (-LRB- -LRB-) (NN a) (-RRB- -RRB-)) (VP (VB b)))") == {
        (0, 4, "S"): 1, (0, 3, "NP"): 1, (3, 4, "VP"): 1}


def test_unary_chains_and_duplicates_are_a_multiset() -> None:
    assert labelled_brackets(GOLD_UNARY) == {(0, 2, "S"): 1, (0, 2, "VP"): 1, (1, 2, "NP"): 1}
    assert labelled_brackets(PRED_DUP)[(1, 2, "NP")] == 2
    # dup: matched 3 of pred 4, gold 3 -> 2·3 / 7; the extra NP is not matched twice
    assert bracket_counts(PRED_DUP, GOLD_UNARY) == BracketCounts(3, 4, 3)
    assert tree_f1(PRED_DUP, GOLD_UNARY) == pytest.approx(6 / 7)
    assert tree_f1(GOLD_UNARY, PRED_DUP) == pytest.approx(6 / 7)
    # no S: P = 2/2, R = 2/3 -> 4/5
    assert tree_f1(PRED_NO_S, GOLD_UNARY) == pytest.approx(0.8)


def test_root_wrapper_is_not_a_bracket_but_s_is() -> None:
    bare = "(S (NP (NN a)) (VP (VB b)))"
    wrapped, unlabelled = f"(TOP {bare})", f"( {bare})"
    for t in (bare, wrapped, unlabelled, f"(ROOT {bare})"):
        assert sum(labelled_brackets(t).values()) == 3
    assert tree_f1(bare, wrapped) == tree_f1(unlabelled, wrapped) == 1.0


def test_function_tags_traces_and_equal_labels() -> None:
    # gold words: gave up (trace and "." deleted; NP-SBJ over the trace is left empty and dropped)
    gold = "(S (NP-SBJ (-NONE- *)) (VP (VBD gave) (PRT (RP up))) (. .))"
    pred = "(S (VP (VBD gave) (ADVP (RB up))) (. .))"
    assert bracket_counts(pred, gold) == BracketCounts(3, 3, 3)
    assert tree_f1("(S (NP (PRP He)) (VP (VBD left)))", "(S (NP-SBJ-1 (PRP He)) (VP (VBD left)))") == 1.0


def test_sentences_without_brackets() -> None:
    assert tree_f1("(TOP (NN food))", "(TOP (NN food))") == 1.0  # nothing to get wrong
    assert tree_f1("(TOP (NN food))", "(TOP (NP (NN food)))") == 0.0


def test_bad_tree_inputs_raise_with_hint() -> None:
    with pytest.raises(DataError, match="words") as e:
        tree_f1("(S (NP (NN a)) (VP (VB b)))", "(S (NP (NN a)))")
    assert "pad or truncate" in e.value.hint
    with pytest.raises(DataError):  # "." deleted in one tree only: 1 word against 2
        tree_f1("(S (NN a) (. .))", "(S (NN a) (NN b))")
    with pytest.raises(DataError, match="not a bracketed tree"):
        tree_f1("The pub is cheap .", GOLD_PUNCT)
    with pytest.raises(DataError, match="cannot read tree"):
        tree_f1("(S (NP a)", GOLD_PUNCT)


def test_corpus_f1_sums_counts() -> None:
    # (2, 4, 4) + (3, 4, 3) = (5, 8, 7) -> 10 / 15, not the mean of 0.5 and 6/7
    score = corpus_tree_f1([PRED_PUNCT, PRED_DUP], [GOLD_PUNCT, GOLD_UNARY])
    assert score == pytest.approx(2 / 3)
    assert score != pytest.approx((0.5 + 6 / 7) / 2)
    with pytest.raises(ConfigError):
        corpus_tree_f1([PRED_PUNCT], [GOLD_PUNCT, GOLD_UNARY])
    with pytest.raises(ConfigError):
        corpus_tree_f1([], [])


def test_tree_f1_agrees_with_pyevalb() -> None:
    """pyevalb counts a set of brackets, keeps punctuation and the root: compare where those agree."""
    pytest.importorskip("PYEVALB")
    from PYEVALB import parser, scorer

    pairs = [
        ("(S (NP (DT The)) (VP (NN pub) (VBZ is) (ADJP (RB very) (JJ cheap))))",
         "(S (NP (DT The) (NN pub)) (VP (VBZ is) (ADJP (RB very) (JJ cheap))))"),
        ("(S (NP (NNP Zizzi)) (VP (VBZ serves) (NP (NP (JJ Thai) (NN food)) (PP (IN near) (NP (DT the) (NN river))))))",
         "(S (NP (NNP Zizzi)) (VP (VBZ serves) (NP (JJ Thai) (NN food)) (PP (IN near) (NP (DT the) (NN river)))))"),
        ("(S (VP (VB Eat) (NP (NN food))))", "(S (VP (VB Eat)) (NP (NN food)))"),
    ]
    for pred, gold in pairs:
        r = scorer.Scorer().score_trees(parser.create_from_bracket_string(gold),
                                        parser.create_from_bracket_string(pred))
        c = bracket_counts(pred, gold)
        assert (c.precision, c.recall) == pytest.approx((r.prec, r.recall))


# -------------------------------------------------------------------------------------- spans
def test_constituent_spans_follow_diffusion_lm() -> None:
    # closed word intervals, punctuation counted, TOP and POS dropped
    assert constituent_spans(VAULTS) == [(0, 1, "NP"), (0, 6, "S"), (2, 5, "VP"), (3, 5, "NP")]
    # unary chain S→VP is one span labelled top-down; a one-word NP is a span, its NN is not
    assert constituent_spans(GOLD_UNARY) == [(0, 1, "S::VP"), (1, 1, "NP")]


def test_span_target_from_diffusion_lm_record() -> None:
    # a line of Diffusion-LM's target_spans.json
    record = {"words_": ["START", "The", "Vaults", "is", "a", "Chinese", "restaurant", ".", "\n", "END"],
              "spans": [[3, 5, "NP"]]}
    words, spans = read_span_target(json.dumps(record))
    assert words == ["The", "Vaults", "is", "a", "Chinese", "restaurant", "."]
    assert spans == [(3, 5, "NP")] and words[3:6] == ["a", "Chinese", "restaurant"]
    assert span_success(VAULTS, *spans[0])
    assert word_span_to_positions(3, 5) == (4, 6)  # [START] is position 0
    assert positions_to_word_span(*word_span_to_positions(3, 5)) == (3, 5)
    with pytest.raises(ConfigError):
        positions_to_word_span(0, 2)


def test_span_target_newline_and_errors() -> None:
    record = {"words_": ["START", "The", "Vaults", "is", "a", "pub", ".", "\n", "END"], "spans": [[0, 6, "S"]]}
    assert read_span_target(record)[1] == [(0, 5, "S")]  # a span ending on "\n" ends on "." instead
    assert read_span_target(record, drop_newline=False) == (
        ["The", "Vaults", "is", "a", "pub", ".", "\n"], [(0, 6, "S")])
    with pytest.raises(DataError, match="does not fit"):
        read_span_target({"words_": ["START", "a", "pub", "END"], "spans": [[0, 2, "NP"]]})
    with pytest.raises(DataError, match="not a span target"):
        read_span_target("{}")


def test_span_success() -> None:
    assert span_success(VAULTS, 0, 6, "S")
    assert not span_success(VAULTS, 0, 5, "S")  # the "." is word 6
    assert not span_success(VAULTS, 3, 5, "VP")
    for label in ("S", "VP", "S::VP"):
        assert span_success(GOLD_UNARY, 0, 1, label)
    assert not span_success(GOLD_UNARY, 0, 1, "VP::S")
    assert not span_success(GOLD_UNARY, 0, 1, "VP", exact_chain=True)
    assert span_success(GOLD_UNARY, 0, 1, "S::VP", exact_chain=True)
    assert span_success(GOLD_UNARY, 1, 1, "NP")
    assert not span_success(GOLD_UNARY, 1, 1, "NN") and not span_success(GOLD_UNARY, 0, 0, "VB")  # POS
    assert not span_success(GOLD_UNARY, 5, 6, "NP")  # past the end: not satisfied, not an error
    for i, j in ((2, 1), (-1, 0)):
        with pytest.raises(ConfigError):
            span_success(GOLD_UNARY, i, j, "NP")


# ------------------------------------------------------------------------ POS, semantic, length
def test_pos_match() -> None:
    assert pos_match(["DET", "NOUN"], ["DET", "NOUN"]) == 1.0
    assert pos_match(["DET", "NOUN", "VERB"], ["DET", "NOUN"]) == 1.0  # truncated
    assert pos_match(["DET"], ["DET", "NOUN", "VERB", "NOUN"]) == 0.25  # padded
    assert pos_match(["DET", "VERB", "NOUN"], ["DET", "NOUN", "NOUN"]) == pytest.approx(2 / 3)
    # Diffusion-LM target with START/END ("The Twenty Two has great food \n"): 7 tags, 4 match
    target = ["START", "DET", "NUM", "NUM", "VERB", "ADJ", "NOUN", "PUNCT", "END"]
    assert pos_match(["DET", "PROPN", "PROPN", "VERB", "ADJ", "NOUN"], target) == pytest.approx(4 / 7)
    with pytest.raises(ConfigError):
        pos_match(["DET"], [])


def test_semantic_success() -> None:
    assert semantic_success("The Vaults is a Japanese pub .", "Japanese")
    assert not semantic_success("The Vaults is a Japanese pub .", "Italian")
    assert semantic_success("It is near Café Adriatic .", "Café Adriatic")
    assert not semantic_success("It is near Café Adriatic .", "Adriatic Café")
    assert semantic_success("It costs £20-25 .", "£20-25") and semantic_success("It costs £ 20 - 25", "£20-25")
    assert not semantic_success("It is rated below average .", "low")  # whole words only
    assert not semantic_success("A japanese pub .", "Japanese")
    assert semantic_success("A japanese pub .", "Japanese", ignore_case=True)
    with pytest.raises(ConfigError):
        semantic_success("A pub .", " ")


def test_length_success() -> None:
    text = "The Vaults is a pub ."  # 6 words
    assert length_success(text, 6) and not length_success(text, 5)
    assert length_success(text, 8, tolerance=2) and length_success(text, 4, tolerance=2)
    assert not length_success(text, 9, tolerance=2)
    assert length_success(["a", "pub"], 2)
    with pytest.raises(ConfigError):
        length_success(text, 6, tolerance=-1)


# ---------------------------------------------------------------------------------- infilling
def test_bleu4_by_hand() -> None:
    # p1..p4 = 5/6, 3/5, 2/4, 1/3; equal lengths, BP = 1 -> (1/12) ** (1/4)
    assert infill_bleu4(["the cat sat on the mat"], ["the cat sat on a mat"]) == pytest.approx((1 / 12) ** 0.25)
    # corpus: counts summed, 9/10, 6/8, 4/6, 2/4
    hyps, refs = ["the cat sat on the mat", "a b c d"], ["the cat sat on a mat", "a b c d"]
    assert infill_bleu4(hyps, refs) == pytest.approx((0.9 * 0.75 * (4 / 6) * 0.5) ** 0.25)
    # brevity penalty: all precisions 1, c = 4, r = 6 -> exp(1 - 6/4)
    assert infill_bleu4(["the cat sat on"], ["the cat sat on the mat"]) == pytest.approx(math.exp(-0.5))
    # several references, their number varying per hypothesis
    assert infill_bleu4(hyps, [["x y z w", "the cat sat on the mat"], "a b c d"]) == pytest.approx(1.0)
    with pytest.raises(ConfigError):
        infill_bleu4(hyps, refs[:1])


def test_rouge_l_by_hand() -> None:
    # LCS "the cat sat on mat" = 5: P = R = 5/6
    assert infill_rouge_l(["the cat sat on the mat"], ["the cat sat on a mat"]) == pytest.approx(5 / 6)
    # LCS "cats fish" = 2: P = 2/3, R = 2/4 -> F = 4/7; the mean over hypotheses
    hyps, refs = ["the cat sat on the mat", "cats eat fish"], ["the cat sat on a mat", "cats like eating fish"]
    assert infill_rouge_l(hyps, refs) == pytest.approx((5 / 6 + 4 / 7) / 2)
    # stemming: eating -> eat, LCS 3: P = 1, R = 3/4 -> 6/7
    assert infill_rouge_l(hyps[1:], refs[1:], stem=True) == pytest.approx(6 / 7)
    assert infill_rouge_l(hyps[:1], [["a dog ran", "the cat sat on a mat"]]) == pytest.approx(5 / 6)  # best ref
    with pytest.raises(ConfigError):
        infill_rouge_l([], [])
