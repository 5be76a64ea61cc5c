"""Two names run together: *Midsummer House Blue Spice is located …* — the name half of ``Infill``'s word pairs.

:meth:`~ctrlgen.oracles.word_pairs.WordPairs.unseen` never holds a pair against a fill when its second word is
capitalised, since a name begins there and names are open (*near Zizzi*, *The House*). That lets two names that
the corpus knows stand side by side with nothing between them: each is a name of the corpus, their junction is
not. :func:`run_on_names` finds such junctions: two adjacent capitalised words, the first not opening a sentence,
both words known to the table, the pair never attested, and one side of it a name of several words the table
attests (*Midsummer House* | *Blue Spice*; *The Mill* | *English*). A new name (a word the corpus never had)
still passes, as does a known name (*Blue Spice*, *Burger King*: attested pairs) and a junction of one-word
names, which the table cannot tell from a new name made of known words (*Raja Café Cuisine*). A new name that
ends on a known one still fires (*North City Centre*: one of the E2E ``valid.csv`` references' false alarms).

It reads only the word-pair table, so it follows ``Infill(template, pairs=...)``: another domain's table, or off
with ``pairs=None``.

The other way, :func:`name_ends` finds where a name ends and a new phrase begins: a proper noun in mid-sentence
followed by a preposition or conjunction (*called the Express near …*, *Near Ranch in riverside*, *has a House and
…*). The pair says only that a name ended there, whatever the name, just as a name before punctuation does (which
the table already skips), so ``Infill`` does not hold it against a fill when the table has never seen it (with
``grammar``: it reads the parse of :mod:`ctrlgen.oracles.phrases`).

    >>> table = WordPairs.from_texts(["Blue Spice is near Midsummer House .", "The House is near Blue Spice ."])
    >>> run_on_names(table, "Midsummer House Blue Spice is near .".split(), free=[1, 2, 3, 4])
    [('house', 'blue')]
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from ctrlgen.oracles.parse_labels import Parse
from ctrlgen.oracles.word_pairs import WordPairs

_SENTENCE_ENDS = frozenset(".!?")
_NAME_TAGS = frozenset(("NNP", "NNPS"))
_PHRASE_OPENERS = frozenset(("IN", "CC"))  # a preposition or subordinator, a conjunction: a new phrase begins


def run_on_names(table: WordPairs, words: Sequence[str], free: Collection[int]) -> list[tuple[str, str]]:
    """The junctions of two known, capitalised words never seen together in ``table`` that touch a free position
    (1-based word positions, as :meth:`~ctrlgen.oracles.word_pairs.WordPairs.unseen`); lower-cased pairs."""
    free, out = set(free), []
    for k in range(1, len(words) - 1):  # 0-based; words[0] opens the text, so its capital says nothing
        a, b = words[k], words[k + 1]
        if not (a[:1].isupper() and b[:1].isupper()) or words[k - 1] in _SENTENCE_ENDS:
            continue
        if not (k + 1 in free or k + 2 in free) or not (table.known(a) and table.known(b)) or table.attested(a, b):
            continue
        if _name_pair(table, words[k - 1], a) or (k + 2 < len(words) and _name_pair(table, b, words[k + 2])):
            out.append((a.lower(), b.lower()))
    return out


def _name_pair(table: WordPairs, a: str, b: str) -> bool:
    """Whether ``a b`` is two capitalised words the table attests together: part of a name of several words."""
    return a[:1].isupper() and b[:1].isupper() and table.attested(a, b)


def name_ends(words: Sequence[str], p: Parse) -> set[int]:
    """The indices ``k`` where a capitalised proper noun (``NNP``/``NNPS``), not the first word of its sentence, is
    followed by a lower-case preposition or conjunction (module docstring): the pair ``words[k], words[k + 1]`` is
    grammatical whatever the name."""
    return {k for k in range(1, len(words) - 1) if words[k][:1].isupper() and p.tags[k] in _NAME_TAGS
            and words[k - 1] not in _SENTENCE_ENDS and words[k + 1][:1].islower() and p.tags[k + 1] in _PHRASE_OPENERS}
