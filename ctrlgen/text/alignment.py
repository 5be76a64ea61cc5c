"""Word ↔ subword alignment: which positions of a sequence of ids make up each word.

Every word-level constraint (``Length(n)`` counts words, ``POS`` labels words, ``[MASK:3]`` is three
words, ``Contains`` matches words) keeps its meaning on a subword model through this module.

**The rule.** The ids between ``[START]`` and the first ``[END]`` (``[PAD]`` and ``[START]`` skipped) spell a
text: each byte-level subword spells its bytes, so each covers a character span of that text (a leading
space — ``Ġ`` — is not part of the span). A *word* is a spaCy token of that text
(:func:`ctrlgen.text.tokenizer.split_words`, whitespace dropped): the unit of every constraint. A word's
subwords are the subwords whose spans overlap the word's span; they are consecutive, so a word is a slice
``positions[start:stop]`` of the sequence. A subword that spells only whitespace belongs to no word. A
subword that overlaps two words is in both words' slices, and :func:`owners` gives it to the first.
Encoding rarely makes one (its pre-tokenizer splits where spaCy does, contractions included, but not
inside a run of letters: spaCy's ``gon`` ``na`` may be ``Ġgo`` ``nna``); a model may write one (``Ġdon``
``'t`` for ``do`` ``n't``). A multi-byte character split across subwords makes each of them overlap it. Bytes
that are not valid UTF-8 (a model may write them) spell what the decoder makes of them: one U+FFFD per maximal
invalid subsequence, so the words are always ``split_words(tokenizer.decode(ids))``.
A special token inside the text (``[UNK]``, ``[MASK]``) is a word of its own, and the text on each side of
it is split separately.

For the word-level tokenizer every token is a word: word ``k`` is the slice ``[p, p + 1)`` of its position
``p`` (the alignment is the identity).

Positions are indices into the ``ids`` given (``[START]`` included), so they index the model's sequence.

**Word layouts on a subword model** (:func:`subword_runs`). A word-level constraint fixes words at word
positions (``{1: "The", 2: "Vaults", 6: "pub"}``, maybe ``n`` words in all). On a subword model the subword
position of word k is not known until the words before it are, so the layout becomes a list of
runs (:class:`Run`): ``hole`` free words, then fixed subwords — a maximal run of consecutive fixed words encoded
as one text (words joined by one space, or by none where the source had none; a leading space unless the run
starts the text), and ``[END]`` when the length is fixed. The backend chooses each hole's subword length
(:func:`ctrlgen.core.placement.place_layouts`); the check faces count spaCy words of the output.

Example (a BPE tokenizer trained on two sentences)::

    >>> from ctrlgen.text.bpe import BPETokenizer
    >>> tok = BPETokenizer.train(["The Vaults is a pub.", "The Mill is a pub near the river."] * 2, 300)
    >>> ids = tok.encode("The Vaultz isn't a pub.")  # [START] + 11 subwords + [END]
    >>> tok.tokenize("The Vaultz isn't a pub.")
    ['The', 'ĠVa', 'ult', 'z', 'Ġis', 'n', "'", 't', 'Ġa', 'Ġpub', '.']
    >>> [(w.text, w.start, w.stop) for w in words_of(tok, ids)]
    [('The', 1, 2), ('Vaultz', 2, 5), ('is', 5, 6), ("n't", 6, 9), ('a', 9, 10), ('pub', 10, 11), ('.', 11, 12)]
    >>> word_count(tok, ids), word_slice(tok, ids, 1)
    (7, slice(2, 5, None))
    >>> owners(tok, ids)[:7]
    [None, 0, 1, 1, 1, 2, 3]
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from ctrlgen.errors import DataError
from ctrlgen.text.base import BaseTokenizer
from ctrlgen.text.bpe import byte_of_char
from ctrlgen.text.tokenizer import split_words, word_spans
from ctrlgen.text.vocab import SPECIALS

_REPLACEMENT = "\ufffd"


@dataclass(frozen=True)
class WordSpan:
    """One word and the positions ``[start, stop)`` of the subwords it is made of."""

    text: str
    start: int
    stop: int

    @property
    def positions(self) -> slice:
        return slice(self.start, self.stop)


def words_of(tokenizer: BaseTokenizer, ids: Sequence[int] | torch.Tensor) -> list[WordSpan]:
    """The words that ``ids: [L]`` spell, each with its subword positions (see the module's rule)."""
    content = tokenizer.content(ids)
    if tokenizer.kind == "word":
        return [WordSpan(tokenizer.vocab.word(i), p, p + 1) for p, i in content]
    words: list[WordSpan] = []
    run: list[tuple[int, str]] = []
    for pos, i in content:
        token = tokenizer.vocab.word(i)
        if token in SPECIALS:
            words += _align_run(run)
            words.append(WordSpan(token, pos, pos + 1))
            run = []
        else:
            run.append((pos, token))
    return words + _align_run(run)


def word_count(tokenizer: BaseTokenizer, ids: Sequence[int] | torch.Tensor) -> int:
    """Number of words ``ids`` spell (what ``Length(n)`` counts)."""
    return len(words_of(tokenizer, ids))


def word_slice(tokenizer: BaseTokenizer, ids: Sequence[int] | torch.Tensor, k: int) -> slice:
    """Positions of word ``k``'s subwords; ``DataError`` when the text has no word ``k``."""
    words = words_of(tokenizer, ids)
    if not 0 <= k < len(words):
        raise DataError(f"word index {k} is out of range: the text has {len(words)} words",
                        f"use an index in 0..{len(words) - 1}")
    return words[k].positions


def owners(tokenizer: BaseTokenizer, ids: Sequence[int] | torch.Tensor) -> list[int | None]:
    """For each position of ``ids``, the index of the (first) word its subword belongs to; ``None`` for
    ``[START]``, ``[END]``, ``[PAD]``, whitespace-only subwords and whatever follows ``[END]``."""
    n = len(ids)
    out: list[int | None] = [None] * n
    for k, w in reversed(list(enumerate(words_of(tokenizer, ids)))):
        for p in range(w.start, w.stop):
            if _spells_something(tokenizer, ids, p):
                out[p] = k
    return out


def align_text(tokenizer: BaseTokenizer, text: str) -> tuple[list[int], list[WordSpan]]:
    """``(ids, words)`` of ``text``: ``ids = tokenizer.encode(text)`` and its words, aligned with the fast
    tokenizer's character offsets (the same alignment as ``words_of(tokenizer, ids)``, with the words
    spelled as in ``text`` — the word level's ``[UNK]`` keeps its word)."""
    ids = tokenizer.encode(text)
    spans = word_spans(text)
    if tokenizer.kind == "word":
        return ids, [WordSpan(w, k + 1, k + 2) for k, w in enumerate(split_words(text))]
    offsets = tokenizer.offsets(text)  # type: ignore[attr-defined]  # the fast tokenizer's, space trimmed
    covered = [(p + 1, a, b) for p, (a, b) in enumerate(offsets) if text[a:b].strip()]
    return ids, _assign(spans, covered)


@dataclass(frozen=True)
class Run:
    """``hole`` free words, then the fixed subword ids ``ids`` (template words, or ``[END]``)."""

    hole: int
    ids: tuple[int, ...]


def subword_runs(tokenizer: BaseTokenizer, words: Mapping[int, str], n_words: int | None,
                 space_before: Mapping[int, bool] | None = None) -> list[Run]:
    """A word layout as runs (:class:`Run`) (module doc): ``words[k]`` is word ``k`` (1-based), ``n_words`` the
    text's number of words (``None``: the end is free, and free words after the last fixed one are not a hole),
    ``space_before[k]`` whether word ``k`` follows a space (default ``True``; ignored for word 1).

    The fixed runs are encoded exactly (byte level: any character); whitespace between fixed words becomes one
    space. Raises ``DataError`` for a layout a subword model cannot express (a ``[PAD]`` word, a word after
    ``n_words``)."""
    space = space_before or {}
    bad = [k for k, w in words.items() if w in SPECIALS or (n_words is not None and k > n_words)]
    if bad:
        raise DataError(f"word positions {sorted(bad)} hold a special token or lie after word {n_words}: "
                        "a subword model fixes words and the text's end only",
                        "fix words (and the length) rather than [PAD] / [END] at word positions")
    runs: list[Run] = []
    previous, group = 0, []  # the last fixed word before the current group; the group's positions
    for k in [*sorted(words), None]:
        if group and (k is None or k != group[-1] + 1):
            text = "".join((" " if j > 1 and space.get(j, True) else "") + words[j] for j in group)
            runs.append(Run(group[0] - previous - 1, tuple(tokenizer.encode(text)[1:-1])))
            previous, group = group[-1], []
        if k is not None:
            group.append(k)
    if n_words is not None:
        runs.append(Run(n_words - previous, (tokenizer.vocab.end_id,)))
    return runs


@functools.lru_cache(maxsize=8)
def glue_ids(tokenizer: BaseTokenizer) -> frozenset[int]:
    """Byte-level subwords that may continue a word written just before them (no space between): all but those whose
    first byte is whitespace, English closing punctuation (``. , ! ? ; : ' " )``) or a character spaCy splits off a
    word even before a letter (:func:`_glue_bytes`). Banned right after a fixed subword that ends a word, so a free
    token cannot glue onto a fixed word (``pub`` + ``s``, ``pub`` + ````x``). What this does not prevent: a second
    free token gluing through an allowed first one (``pub`` ``.`` ``a`` → spaCy's ``pub.a``) — the check face
    judges that text as it is."""
    table, glue = byte_of_char(), _glue_bytes()
    return frozenset(i for i, t in enumerate(tokenizer.vocab.words) if t not in SPECIALS and table[t[0]] in glue)


def ends_word(tokenizer: BaseTokenizer, i: int) -> bool:
    """Whether subword ``i`` ends in a non-blank byte, so that a token written right after it may join its word."""
    t = tokenizer.vocab.word(i)
    return t not in SPECIALS and not chr(byte_of_char()[t[-1]]).isspace()


# ---------------------------------------------------------------- internals
@functools.lru_cache(maxsize=1)
def _glue_bytes() -> frozenset[int]:
    """First bytes of a token that may join the word before it (:func:`glue_ids`): every byte but whitespace, the
    closers ``. , ! ? ; : ' " )`` and the ASCII characters spaCy splits off ``pub`` even before a letter."""
    return frozenset(b for b in range(256) if b >= 0x80 or not (
        chr(b).isspace() or chr(b) in ".,!?;:'\")" or (not chr(b).isalnum() and split_words(f"pub{chr(b)}x")[:1] == ["pub"])))



def _spells_something(tokenizer: BaseTokenizer, ids: Sequence[int] | torch.Tensor, p: int) -> bool:
    i = int(ids[p])
    token = tokenizer.vocab.word(i)
    if tokenizer.kind == "word" or token in SPECIALS:
        return True
    return bool(bytes(byte_of_char()[c] for c in token).decode("utf-8", "replace").strip())


def _align_run(run: list[tuple[int, str]]) -> list[WordSpan]:
    """Words of a run of byte-level tokens ``(position, token string)``, by character overlap."""
    if not run:
        return []
    table = byte_of_char()
    token_bytes = [bytes(table[c] for c in tok) for _, tok in run]
    text, char_of_byte = _decode_lossy(b"".join(token_bytes))
    covered, b0 = [], 0
    for (pos, _), tb in zip(run, token_bytes, strict=True):
        a, b = char_of_byte[b0], char_of_byte[b0 + len(tb) - 1] + 1
        b0 += len(tb)
        chars = text[a:b]
        if chars.strip():
            lead = len(chars) - len(chars.lstrip())
            covered.append((pos, a + lead, a + len(chars.rstrip())))
    return _assign(word_spans(text), covered)


def _decode_lossy(data: bytes) -> tuple[str, list[int]]:
    """``(text, char_of_byte)``: ``data`` decoded as the tokenizer decodes it — UTF-8 with each maximal invalid
    subsequence (a truncated character, a stray continuation byte) replaced by one U+FFFD, as ``"replace"`` and the
    fast tokenizer's lossy decoding do — and, for each byte, the index of the character it lies in. A run of bad
    bytes may make fewer characters than bytes (``E2 93`` is one U+FFFD), so the words are those of the decoded
    text exactly (a character per bad byte would split the run into more words than the output has)."""
    chars: list[str] = []
    char_of_byte: list[int] = []
    pos = 0
    while pos < len(data):
        try:
            good, bad = data[pos:].decode("utf-8"), 0
        except UnicodeDecodeError as e:
            good, bad = data[pos:pos + e.start].decode("utf-8"), e.end - e.start
        for c in good:
            char_of_byte += [len(chars)] * len(c.encode())
            chars.append(c)
        pos += len(good.encode())
        if bad:
            char_of_byte += [len(chars)] * bad
            chars.append(_REPLACEMENT)
            pos += bad
    return "".join(chars), char_of_byte


def _assign(spans: list[tuple[str, int, int]], covered: list[tuple[int, int, int]]) -> list[WordSpan]:
    """Words ``(text, a, b)`` and non-blank subwords ``(position, a, b)`` (sorted) → each word's slice."""
    words = []
    for w, a, b in spans:
        hits = [p for p, s, e in covered if s < b and a < e]
        if not hits:  # cannot happen: every non-space character lies in some subword
            raise DataError(f"word {w!r} has no subword", "report this as a bug of ctrlgen.text.alignment")
        words.append(WordSpan(w, hits[0], hits[-1] + 1))
    return words
