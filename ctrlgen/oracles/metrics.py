"""Control metrics: pure functions on texts, tag sequences and parse trees (no models).

They implement the E2E control protocol of Diffusion-LM (see ``reference/diffusion-lm.md`` §5);
the oracles that produce trees and tags live elsewhere. Every score is a fraction in [0, 1]
(BLEU and ROUGE included: multiply by 100 for the paper's tables).

Tree F1 follows EVALB with ``COLLINS.prm``: labelled brackets over word spans; the root wrapper
(``TOP``/``ROOT``/``S1``/``VROOT`` or an unlabelled root) is not a bracket, but an ``S`` root is, so
``(S …)`` and ``(TOP (S …))`` score the same; preterminals (POS) are not brackets; words tagged
``, : `` '' .`` (:data:`EVALB_PUNCT_TAGS`) and ``-NONE-`` traces are deleted before spans are
counted, and brackets left empty are dropped (``-LRB- -RRB- # $`` stay, as in ``COLLINS.prm``);
function tags are trimmed (``NP-SBJ`` → ``NP``); ``PRT`` equals ``ADVP``; brackets are a
multiset: every node of a unary chain and every duplicate counts, and each is matched at most
once. Unlike EVALB the words themselves are not compared — control scores a parse of *new*
text against a target tree — but the two trees must have the same number of words left.
Diffusion-LM's own script relabelled every preterminal ``NN`` before calling EVALB, so it deleted
no punctuation: pass ``punct_tags=()`` to reproduce it.

Span convention (syntax-span control): a span ``(i, j, label)`` names words ``i`` … ``j`` of the
sentence, 0-based and **both ends inclusive**, punctuation included — exactly the ``"spans"`` of
Diffusion-LM's ``target_spans.json`` (``[3, 5, "NP"]`` in "The Vaults is a Chinese restaurant ."
is "a Chinese restaurant"). Sequence *positions* count from ``[START]`` = 0, so word ``k`` sits at
position ``k + 1``: see :func:`word_span_to_positions`. A unary chain over one span is one label
joined by ``::`` (``S::VP``), as in Diffusion-LM's ``tree_helper``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

from ctrlgen.errors import ConfigError, DataError
from ctrlgen.text.tokenizer import split_words
from ctrlgen.text.vocab import END, PAD, START

if TYPE_CHECKING:
    from nltk import Tree

TreeLike = Union["Tree", str]
Span = tuple[int, int, str]

EVALB_PUNCT_TAGS: frozenset[str] = frozenset({",", ":", "``", "''", "."})  # COLLINS.prm DELETE_LABEL
ROOT_LABELS: frozenset[str] = frozenset({"", "TOP", "ROOT", "S1", "VROOT"})  # wrappers, never brackets
EQUAL_LABELS: dict[str, str] = {"PRT": "ADVP"}  # COLLINS.prm EQ_LABEL ADVP PRT
TRACE_TAG = "-NONE-"
_TREE_HINT = "pass an nltk.Tree or a bracketed string such as '(S (NP (DT The) (NN pub)) (VP (VBZ is)))'"


# ------------------------------------------------------------------------------------------ trees
def _as_tree(tree: TreeLike) -> Tree:
    if not isinstance(tree, str):
        return tree
    from nltk import Tree  # lazy: start-up speed

    if not tree.strip().startswith("("):
        raise DataError(f"not a bracketed tree: {tree[:60]!r}", hint=_TREE_HINT + "; parse raw text first")
    try:
        return Tree.fromstring(tree)
    except ValueError as e:
        raise DataError(f"cannot read tree {tree[:60]!r}: {str(e).splitlines()[0]}", hint=_TREE_HINT) from e


def _base_label(label: str) -> str:
    """EVALB's label trimming: drop function tags and indices (``NP-SBJ-1``, ``NP=2`` → ``NP``)."""
    for k, ch in enumerate(label):
        if ch in "-=" and k > 0:
            return label[:k]
    return label


def _walk(tree: TreeLike, drop_tags: Collection[str]) -> tuple[int, list[tuple[str, int, int, int]]]:
    """Words left after dropping ``drop_tags`` and traces, and ``(label, start, end, depth)`` per
    phrasal node (half-open over the kept words, pre-order), root wrapper excluded."""
    root = _as_tree(tree)
    nodes: list[tuple[str, int, int, int]] = []
    n = 0

    def visit(node: Any, depth: int) -> None:
        nonlocal n
        if isinstance(node, str):  # a bare word without a tag
            n += 1
            return
        if len(node) == 1 and isinstance(node[0], str):  # preterminal: a word, never a bracket
            n += int(node.label() not in drop_tags and node.label() != TRACE_TAG)
            return
        k, start = len(nodes), n
        nodes.append(("", 0, 0, depth))  # placeholder keeps pre-order
        for child in node:
            visit(child, depth + 1)
        nodes[k] = (_base_label(str(node.label())), start, n, depth)

    visit(root, 0)
    if nodes and nodes[0][3] == 0 and nodes[0][0] in ROOT_LABELS:
        nodes = nodes[1:]
    return n, [b for b in nodes if b[2] > b[1]]  # EVALB drops brackets left empty


@dataclass(frozen=True)
class BracketCounts:
    """Matched / predicted / gold labelled brackets; add them up for corpus scores."""

    matched: int = 0
    pred: int = 0
    gold: int = 0

    def __add__(self, other: BracketCounts) -> BracketCounts:
        return BracketCounts(self.matched + other.matched, self.pred + other.pred, self.gold + other.gold)

    @property
    def precision(self) -> float:
        return self.matched / self.pred if self.pred else float(self.gold == 0)

    @property
    def recall(self) -> float:
        return self.matched / self.gold if self.gold else float(self.pred == 0)

    @property
    def f1(self) -> float:
        """``2PR / (P + R)`` = ``2·matched / (pred + gold)``; 1.0 when neither tree has a bracket."""
        total = self.pred + self.gold
        return 2 * self.matched / total if total else 1.0


def labelled_brackets(tree: TreeLike, *,
                      punct_tags: Collection[str] = EVALB_PUNCT_TAGS) -> Counter[tuple[int, int, str]]:
    """EVALB brackets of ``tree``: a multiset of ``(start, end, label)``, **half-open** over the
    words left after deleting ``punct_tags`` (unlike a :data:`Span`, whose ends are inclusive)."""
    return _multiset(_walk(tree, punct_tags)[1])


def _multiset(nodes: list[tuple[str, int, int, int]]) -> Counter[tuple[int, int, str]]:
    return Counter((s, e, EQUAL_LABELS.get(lab, lab)) for lab, s, e, _ in nodes)


def bracket_counts(pred: TreeLike, gold: TreeLike, *,
                   punct_tags: Collection[str] = EVALB_PUNCT_TAGS) -> BracketCounts:
    """Matched, predicted and gold bracket counts of one pair (see the module doc for conventions)."""
    (n_pred, pred_nodes), (n_gold, gold_nodes) = _walk(pred, punct_tags), _walk(gold, punct_tags)
    if n_pred != n_gold:
        raise DataError(f"the predicted tree has {n_pred} words and the gold tree {n_gold} "
                        "(after deleting punct_tags and traces)",
                        hint="EVALB only scores trees over the same number of words: pad or truncate the text "
                             "to the target length before parsing, or pass punct_tags=() to count every word")
    p, g = _multiset(pred_nodes), _multiset(gold_nodes)
    return BracketCounts(sum((p & g).values()), sum(p.values()), sum(g.values()))


def tree_f1(pred: TreeLike, gold: TreeLike, *, punct_tags: Collection[str] = EVALB_PUNCT_TAGS) -> float:
    """Labelled bracket F1 of one predicted tree against a gold tree, EVALB conventions."""
    return bracket_counts(pred, gold, punct_tags=punct_tags).f1


def corpus_tree_f1(preds: Sequence[TreeLike], golds: Sequence[TreeLike], *,
                   punct_tags: Collection[str] = EVALB_PUNCT_TAGS) -> float:
    """EVALB's corpus F1: matched / predicted / gold counts summed over pairs, then F1 (not a mean)."""
    _check_pairs(preds, golds, "preds", "golds")
    total = BracketCounts()
    for p, g in zip(preds, golds, strict=True):
        total = total + bracket_counts(p, g, punct_tags=punct_tags)
    return total.f1


# ------------------------------------------------------------------------------------------ spans
def constituent_spans(tree: TreeLike) -> list[Span]:
    """Constituents as Diffusion-LM spans: ``(i, j, label)`` over all words (punctuation included),
    both ends inclusive, a unary chain joined top-down with ``::``; preterminals and the root
    wrapper excluded. Sorted by ``(i, j)``."""
    chains: dict[tuple[int, int], list[str]] = {}
    for label, s, e, _ in _walk(tree, ())[1]:  # pre-order: a chain's labels arrive top-down
        chains.setdefault((s, e - 1), []).append(label)
    return [(i, j, "::".join(labels)) for (i, j), labels in sorted(chains.items())]


def span_success(tree: TreeLike, i: int, j: int, label: str, *, exact_chain: bool = False) -> bool:
    """Whether words ``i`` … ``j`` (0-based, inclusive) form a constituent labelled ``label``.

    A plain label matches any node of a unary chain over the span (``VP`` is found in
    ``S::VP``); a ``::`` label, or any label with ``exact_chain=True`` (Diffusion-LM's scoring),
    must equal the whole chain. A span past the end of the sentence is simply not satisfied.
    """
    if i < 0 or j < i:
        raise ConfigError(f"a span needs 0 <= i <= j, got i={i}, j={j}",
                          hint="i and j are 0-based word indices, both inclusive: (3, 5, 'NP') is words 3, 4, 5")
    for a, b, chain in constituent_spans(tree):
        if (a, b) == (i, j):
            return chain == label if exact_chain or "::" in label else label in chain.split("::")
    return False


def word_span_to_positions(i: int, j: int) -> tuple[int, int]:
    """Word indices ``(i, j)`` → sequence positions, where ``[START]`` is position 0 (``+1``)."""
    return i + 1, j + 1


def positions_to_word_span(p: int, q: int) -> tuple[int, int]:
    """Sequence positions ``(p, q)`` (``[START]`` = 0) → word indices (``-1``)."""
    if p < 1 or q < p:
        raise ConfigError(f"positions must satisfy 1 <= p <= q, got p={p}, q={q}",
                          hint="position 0 is [START], not a word; the first word is position 1")
    return p - 1, q - 1


def read_span_target(record: Mapping[str, Any] | str, *, drop_newline: bool = True) -> tuple[list[str], list[Span]]:
    """One line of Diffusion-LM's ``target_spans.json`` → ``(words, spans)`` in this module's convention.

    ``START``/``END``/``PAD`` are dropped from ``words_`` (the spans already skip ``START``).
    Diffusion-LM's E2E text ends in a ``"\\n"`` word that ctrlgen's tokenizer never produces; with
    ``drop_newline`` it is removed and a span ending on it is clipped to the word before.
    """
    try:
        rec = json.loads(record) if isinstance(record, str) else record
        words = [w for w in rec["words_"] if w not in {"START", "END", "PAD", START, END, PAD}]
        spans = [(int(a), int(b), str(lab)) for a, b, lab in rec["spans"]]
    except (ValueError, KeyError, TypeError) as e:
        raise DataError(f"not a span target record: {str(record)[:80]!r}",
                        hint='a record looks like {"words_": ["START", "The", "pub", "END"], '
                             '"spans": [[0, 1, "NP"]]}') from e
    if drop_newline and words and words[-1] == "\n":
        words.pop()
        spans = [(a, b - (b == len(words)), lab) for a, b, lab in spans]
    for a, b, lab in spans:
        if not 0 <= a <= b < len(words):
            raise DataError(f"span {(a, b, lab)} does not fit the {len(words)} words of {' '.join(words)!r}",
                            hint="spans are 0-based word indices, both inclusive, not counting START")
    return words, spans


# ------------------------------------------------------------------------------ tags, text, length
def _strip_markers(tags: Sequence[str]) -> list[str]:
    out = list(tags)
    if out and out[0] in {"START", START}:
        out = out[1:]
    while out and out[-1] in {"END", END, "PAD", PAD}:
        out.pop()
    return out


def pos_match(pred_tags: Sequence[str], target_tags: Sequence[str]) -> float:
    """Share of target positions whose tag the prediction matches, after truncating ``pred_tags``
    to the target length or padding it with a tag that matches nothing. A leading ``START`` and
    trailing ``END``/``PAD`` markers (Diffusion-LM's ``target_pos.json`` has them) are ignored."""
    pred, target = _strip_markers(pred_tags), _strip_markers(target_tags)
    if not target:
        raise ConfigError("target_tags has no tags",
                          hint="pass the target's word-level UPOS tags, e.g. ['DET', 'NOUN']")
    return sum(p == t for p, t in zip(pred, target, strict=False)) / len(target)


def semantic_success(text: str, value: str, *, ignore_case: bool = False) -> bool:
    """Whether ``value`` appears in ``text`` as a run of whole words (both split with
    :func:`ctrlgen.text.split_words`), so ``"£20-25"`` matches ``"£20 - 25"`` and ``"low"`` does
    not match ``"below"``. Case-sensitive unless ``ignore_case``, as in Diffusion-LM."""
    words, target = split_words(text), split_words(value)
    if not target:
        raise ConfigError("value is empty", hint="pass the slot value to look for, e.g. 'Japanese'")
    if ignore_case:
        words, target = [w.casefold() for w in words], [w.casefold() for w in target]
    n = len(target)
    return any(words[k:k + n] == target for k in range(len(words) - n + 1))


def length_success(text_or_words: str | Sequence[str], target: int, tolerance: int = 0) -> bool:
    """Whether the word count (``split_words`` for a string; START/END not counted) is within
    ``tolerance`` of ``target``. Report ``tolerance=0`` (Diffusion-LM's code) and ``2`` (its paper)."""
    if target < 0 or tolerance < 0:
        raise ConfigError(f"target and tolerance must be >= 0, got target={target}, tolerance={tolerance}",
                          hint="target is a number of words; tolerance=2 accepts target ± 2")
    n = len(split_words(text_or_words)) if isinstance(text_or_words, str) else len(text_or_words)
    return abs(n - target) <= tolerance


# ---------------------------------------------------------------------------------------- infill
def _check_pairs(a: Sequence[Any], b: Sequence[Any], name_a: str, name_b: str) -> None:
    if len(a) != len(b) or not a:
        raise ConfigError(f"{name_a} and {name_b} must be non-empty and of one length, got {len(a)} and {len(b)}",
                          hint=f"pass one entry of {name_b} per entry of {name_a}")


def _ref_lists(refs: Sequence[str | Sequence[str]]) -> list[list[str]]:
    return [[r] if isinstance(r, str) else list(r) for r in refs]


def infill_bleu4(hyps: Sequence[str], refs: Sequence[str | Sequence[str]]) -> float:
    """Corpus BLEU-4 (sacrebleu defaults: 13a tokenization, exp smoothing) in [0, 1]. ``refs``
    holds one reference or a list of references per hypothesis (their number may vary)."""
    from sacrebleu.metrics import BLEU  # lazy: start-up speed

    _check_pairs(hyps, refs, "hyps", "refs")
    per_hyp = _ref_lists(refs)
    width = max(len(r) for r in per_hyp)
    streams = [[r[k] if k < len(r) else None for r in per_hyp] for k in range(width)]  # None: no ref
    return BLEU(force=True).corpus_score(list(hyps), streams).score / 100  # type: ignore[arg-type]


def infill_rouge_l(hyps: Sequence[str], refs: Sequence[str | Sequence[str]], *, stem: bool = False) -> float:
    """Mean over hypotheses of ROUGE-L F (rouge-score; best reference when there are several)."""
    from rouge_score import rouge_scorer  # lazy: start-up speed

    _check_pairs(hyps, refs, "hyps", "refs")
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=stem)
    scores = [scorer.score_multi(r, h)["rougeL"].fmeasure for h, r in zip(hyps, _ref_lists(refs), strict=True)]
    return sum(scores) / len(scores)

