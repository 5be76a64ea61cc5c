"""Projection onto in-lexicon words per label (issue 14): rounding at a labelled position may pick only words the
label's labeller gave that label.

For a per-word label constraint (:class:`~ctrlgen.constraints.base.WordLabelled`: ``POS`` with UPOS tags,
``SyntaxTree`` with its preterminal PTB tags) the lexicon maps each label to the words seen with it in
≥ ``share`` of their uses in some tagged rows — the model's own unguided samples, labelled in context by the
constraint's own labeller (:meth:`EmbeddingGenerator.label_lexicon`), so no data is read at run time.
:func:`label_banned` turns the target's labels into a ``banned`` mask for clamping and the final rounding: word
``j`` (position ``j + 1``, after START) may take only ``lexicon[label_j]`` (any word where the label is unknown or
has no word), position ``m + 1`` only END and the rest only PAD — the classifier's own START/tags/END/PAD target.

Opt-in (``generate(..., lexicon=True)``); with it the gradient guidance only has to pick among words of the
right label, and the denoiser's own choice among them keeps the text fluent (``recipes/fluent_structure.py``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

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


def build_lexicon(leaf: WordLabelled, rows: Sequence[Sequence[str]], vocab: Vocabulary,
                  share: float = 0.1) -> dict[str, Tensor]:
    """``label -> BoolTensor[V]``: the words ``leaf.label_words`` gave that label in ≥ ``share`` of their uses in
    ``rows`` (word lists); specials never enter."""
    labels = [list(x) for x in leaf.label_words([list(r) for r in rows])]
    if len(labels) != len(rows) or any(len(a) != len(b) for a, b in zip(rows, labels, strict=True)):
        raise ConstraintError(f"{type(leaf).__name__}.label_words did not return one label per word",
                              "label_words must label the given words as they are")
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
