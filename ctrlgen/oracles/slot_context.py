"""Is a price or rating said cleanly, or garbled into a stray amount? A context rule of the slot check.

Generated text garbles amounts: *for less than £moderate price*, *a price range of cheap 20-25*, *less than £20 30*.
The value's phrasing is there, but a number or a *£* of some other amount is run into it, so the text says no
one price. :func:`glued_amount` finds such a mention (a character span of the normalised text, see
:func:`ctrlgen.oracles.slots.normalise`): for ``priceRange`` and ``customer rating``, a number or *£* right
against the mention that is not part of it. Left alone:

- a number that opens or ends a rating (*a cheap 5 star pub*, *rated low 1 out of 5*, *a 5 out of 5 cheap coffee
  shop*): another field's value or the same rating said twice, which the conflict rule of
  :func:`~ctrlgen.oracles.slots.slot_realised` judges;
- a *£* written after the amount (*less than 20 £*);
- a *£* amount next to a rating (*5 out of 5 £20-25*): a price, another field;
- an amount after punctuation (*cheap , £20*): a list, not a run-on;
- the mention's last number said again (*£20-25 25*): a stutter, not another amount.

A number joined to the mention by a hyphen (*expensive-25*, *20-cheap*: one word after normalising) is run into it
too: the word is half of some other amount.

An amount mention compared right after with another (*is £20-25 than £30*) is garbled as well: the text says *than
£30* (an adjective is not: *expensive than £20* still says a high price).

Words are those of the normalised text, so ``£ 20`` is ``£20`` and ``5 - star`` is ``5-star``; in ``£moderate``
the ``£`` glued to the mention is the word before it.

Measured alternative, not used: asking that the word pair across each edge of the mention occur in E2E
``train.csv`` (the table of ``Infill``'s check, :mod:`ctrlgen.oracles.word_pairs`). On the four labelled sets it
rejects the five garbled mentions above and *an adult family friendly pub* and *not family family friendly*, but
also 31 mentions the labels accept (*a family cheap friendly coffee shop*, *fast food average customer rating*):
hand labels accept garbled text that still clearly says the value, so an unseen pair is no evidence against it.
"""

from __future__ import annotations

import re

__all__ = ["AMOUNT_FIELDS", "glued_amount"]

#: Fields whose values are amounts (numbers, £): a stray number against the mention garbles them.
AMOUNT_FIELDS = frozenset({"priceRange", "customer rating"})
_AMOUNT = re.compile(r"^(?:£\S*|\d+(?:[-.]\d+)*)$")  # "£", "£20-25", "£place" (normalised "£ place")
_UNIT = re.compile(r"£(?![\d.])")  # a "£" with no amount of its own: the currency of the one before it
#: Words after a number that make it a rating ("5 star", "1 out of 5", "3 of 5").
_RATING_NEXT = frozenset({"star", "stars", "out", "of"})  # "5-star" is one word: no amount


def glued_amount(norm: str, start: int, end: int, field: str) -> bool:
    """Whether a stray number or ``£`` is run into the mention ``norm[start:end]`` of an amount field (module
    docstring); always False for other fields. ``norm`` is normalised text (single spaces), so the word before
    the mention is the last one of ``norm[:start]`` — or, for ``£moderate``, the ``£`` glued to it."""
    if field not in AMOUNT_FIELDS:
        return False
    before, after = norm[:start].split()[-2:], norm[end:].split()[:2]
    left = bool(before) and _stray(before[-1], field) and before[:-1] not in (["of"], ["out"])  # "5 out of 5 cheap"
    right = bool(after) and _stray(after[0], field) \
        and not (after[1:] and after[1] in _RATING_NEXT and not after[0].startswith("£")) \
        and not (_UNIT.match(after[0]) and norm[end - 1:end].isdigit()) \
        and not _repeated(norm[start:end], after[0])  # "cheap 5 star", "less than 20 £", "£20-25 25"
    compared = after[:1] == ["than"] and len(after) > 1 and _AMOUNT.match(after[1]) is not None \
        and _AMOUNT.match(norm[start:end].split()[-1]) is not None  # "£20-25 than £30"; "expensive than £20" is high
    return left or right or compared or _hyphened(norm, start, end)


def _hyphened(norm: str, start: int, end: int) -> bool:
    """Whether the mention ``norm[start:end]`` is joined by a hyphen to an amount inside one word: *expensive-25*,
    *20-cheap* (not *high-priced*, nor *£20-25*, whose hyphen is inside the mention)."""
    word_end = norm.find(" ", end)
    tail = norm[end:] if word_end < 0 else norm[end:word_end]
    head = norm[norm.rfind(" ", 0, start) + 1:start]
    return (tail[:1] == "-" and _AMOUNT.match(tail[1:]) is not None) \
        or (head[-1:] == "-" and _AMOUNT.match(head[:-1]) is not None)


def _repeated(mention: str, word: str) -> bool:
    """Whether ``word`` only says the mention's last number again (*£20-25 25*): a stutter, not another amount."""
    last = re.findall(r"\d+", mention)
    return bool(last) and word == last[-1]


def _stray(word: str, field: str) -> bool:
    """An amount — but a ``£`` amount next to a rating is a price: another field's value, left to the conflict
    rule."""
    return _AMOUNT.match(word) is not None and not (field == "customer rating" and word.startswith("£"))
