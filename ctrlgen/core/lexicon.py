"""Projection onto in-lexicon words per label (issue 14): rounding at a labelled position may pick only words the
label's labeller gave that label.

For a per-word label constraint (:class:`~ctrlgen.constraints.base.WordLabelled`: ``POS`` with UPOS tags,
``SyntaxTree`` with its preterminal PTB tags) the lexicon maps each label to the words seen with it in
≥ ``share`` of their uses in some tagged rows — the model's own unguided samples, labelled in context by the
constraint's own labeller (:class:`LabelLexicons`, one per loaded model), so no data is read at run time.
:func:`label_banned` turns the target's labels into a ``banned`` mask: word ``j`` (position ``j + 1``, after START)
may take only ``lexicon[label_j]`` (any word where the label is unknown or has no word), position ``m + 1`` only
END and the rest only PAD — the classifier's own START/tags/END/PAD target.

Opt-in (``generate(..., lexicon=True)``) on the backends that read a ``banned`` mask: the embedding backend
(clamping and the final rounding: the gradient guidance only has to pick among words of the right label,
``recipes/fluent_structure.py``) and the discrete backend (the mask joins the hard faces' bans, so every draw at a
labelled position is a word of its label, chosen by the model's own scores; ``recipes/control_long.py``'s
``discrete-lexicon`` rows).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor

from ctrlgen.constraints.base import ConstraintError, WordLabelled
from ctrlgen.constraints.composition import PreparedConstraint
from ctrlgen.text.vocab import SPECIALS, Vocabulary

#: A label → ``BoolTensor[V]`` table: the words that may carry the label.
Lexicon = Mapping[str, Tensor]


def word_label_leaves(prepared: PreparedConstraint | None) -> list[WordLabelled]:
    """The per-word label leaves of ``prepared`` (``POS``, ``SyntaxTree``), in order."""
    if prepared is None:
        return []
    return [t.constraint for t in prepared.terms if isinstance(t.constraint, WordLabelled)]


def row_words(row: Sequence[int], vocab: Vocabulary) -> list[str]:
    """The words of one sampled row of ids: after START, up to the first END; specials dropped."""
    out = []
    for i in row[1:]:
        if i == vocab.end_id:
            break
        if i >= len(SPECIALS):
            out.append(vocab.word(i))
    return out


def labelled(leaf: WordLabelled, sentences: list[list[str]]) -> list[list[str]]:
    """``leaf.label_words(sentences)``, checked: one label list per sentence, one label per word."""
    out = [list(x) for x in leaf.label_words(sentences)]
    bad = [k for k, (w, x) in enumerate(zip(sentences, out)) if len(w) != len(x)]
    if len(out) != len(sentences) or bad:
        k = bad[0] if bad else None
        raise ConstraintError(f"{leaf!r}.label_words returned {len(out)} label lists for {len(sentences)} sentences"
                              + (f"; sentence {k} has {len(sentences[k])} words but {len(out[k])} labels" if bad else ""),
                              "label_words must label the given words as they are: one label per word, no re-tokenising")
    return out


def build_lexicon(leaf: WordLabelled, rows: Sequence[Sequence[str]], vocab: Vocabulary,
                  share: float = 0.1) -> dict[str, Tensor]:
    """``label -> BoolTensor[V]``: the words ``leaf.label_words`` gave that label in ≥ ``share`` of their uses in
    ``rows`` (word lists; :func:`labelled` checks the labeller); specials ([UNK]) never enter."""
    rows = [list(r) for r in rows]
    labels = labelled(leaf, rows)
    counts: defaultdict[int, Counter[str]] = defaultdict(Counter)
    for row, tags in zip(rows, labels, strict=True):
        for word, tag in zip(row, tags, strict=True):
            counts[vocab.id(word)][tag] += 1
    out: dict[str, Tensor] = {}
    for i, c in counts.items():
        if i < len(SPECIALS):
            continue
        total = sum(c.values())
        for tag, k in c.items():
            if k >= share * total:
                out.setdefault(tag, torch.zeros(len(vocab), dtype=torch.bool))[i] = True
    return out


def label_banned(leaves: Sequence[WordLabelled], lexicons: Sequence[Lexicon], vocab: Vocabulary,
                 seq_len: int) -> Tensor | None:
    """``BoolTensor[1, L, V]``: the ids rounding may not pick under the leaves' labels (module doc); ``None`` when
    the leaves ask for different word counts (no common projection) or there is no leaf."""
    lengths = {len(leaf.word_labels) for leaf in leaves}
    if len(lengths) != 1:
        return None
    m = lengths.pop()
    if m + 2 > seq_len:
        raise ConstraintError(f"{m} labelled words do not fit seq_len {seq_len}", f"at most {seq_len - 2} words")
    V = len(vocab)
    allowed = torch.ones(seq_len, V, dtype=torch.bool)
    allowed[1:m + 1, :len(SPECIALS)] = False  # words only
    for leaf, lex in zip(leaves, lexicons, strict=True):
        for j, tag in enumerate(leaf.word_labels):
            words = lex.get(tag)
            if words is not None and bool((allowed[j + 1] & words).any()):
                allowed[j + 1] &= words
    allowed[m + 1] = False
    allowed[m + 1, vocab.end_id] = True
    allowed[m + 2:] = False
    allowed[m + 2:, vocab.pad_id] = True
    return ~allowed[None]


#: ``probe(n, seed) -> LongTensor[n, L]``: ``n`` unguided samples of the model (START first, words, END, PAD)
Probe = Callable[[int, int], Tensor]


class LabelLexicons:
    """The lexicons of one loaded model: probed once from ``rows`` of its own unguided samples (``probe``), one
    lexicon per constraint class (its labeller), kept for the model's lifetime."""

    def __init__(self, probe: Probe, vocab: Vocabulary, seq_len: int, rows: int = 128, share: float = 0.1) -> None:
        self.probe, self.vocab, self.seq_len, self.rows, self.share = probe, vocab, seq_len, rows, share
        self._words: list[list[str]] | None = None
        self._lexicons: dict[type, dict[str, Tensor]] = {}

    def lexicon(self, leaf: WordLabelled) -> dict[str, Tensor]:
        """``label -> BoolTensor[V]`` for ``leaf``'s labeller (:func:`build_lexicon`)."""
        if type(leaf) not in self._lexicons:
            if self._words is None:
                rows = self.probe(self.rows, 0).tolist()
                self._words = [w for w in (row_words(r, self.vocab) for r in rows) if w]
            self._lexicons[type(leaf)] = build_lexicon(leaf, self._words, self.vocab, self.share)
        return self._lexicons[type(leaf)]

    def banned(self, prepared: PreparedConstraint | None) -> Tensor:
        """``BoolTensor[1, L, V]``: what :func:`label_banned` bans under ``prepared``'s per-word label leaves
        (nothing without one, or when they ask for different word counts)."""
        leaves = word_label_leaves(prepared)
        banned = label_banned(leaves, [self.lexicon(leaf) for leaf in leaves], self.vocab, self.seq_len)
        return torch.zeros(1, self.seq_len, len(self.vocab), dtype=torch.bool) if banned is None else banned
