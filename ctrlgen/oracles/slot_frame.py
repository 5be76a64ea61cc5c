"""Does a value mention stand in a frame that says something of the place? Frame rules of the slot check.

:mod:`ctrlgen.oracles.slots` finds where a value is phrased and whether it plays its field's role; these rules look
one step wider, at the words that frame the mention, and refuse three frames in which the value is there but not
*said of the place* (the labelling protocol of ``tests/fixtures/check_labels_blind5.jsonl``):

- **a sentence of nothing but the value** (:func:`dangling`): its sentence holds the mention and at most
  determiners (*… is moderately priced . The Golden Palace*, *… named The Cricketers That fast food .*): no verb,
  no noun, nothing that ties it to the place (a value other than a name needs a demonstrative there: a bare value
  word ending a list, *… rating . riverside*, is telegraphic but said; a name alone that opens the text is its
  heading, *The Wrestlers . Child friendly …*). A capitalised clause opener in mid-sentence (*That*, *This*,
  *Which*, …) starts a sentence too: generated text loses its full stops there;
- **a name used as a modifier** (:func:`name_as_modifier`): between a field's modifier word (*family*, *cheap*,
  *rated*, …) and a field's noun (*a family Strada shop*), or after *a* / *an* when the name opens with *The* (*a
  The Golden Palace customer rating*), the name describes another noun and does not name the place (a kind of
  place after it is the place itself: *the kid friendly Aromi coffee shop*);
- **a negation across one word** (:func:`negated_across`): *not child Fast food* — a negation whose next word is
  not a value phrase of its own still reaches the value after it (*not family-friendly Japanese food* is a
  family-friendly denial, and the food stays Japanese).

Words are those of :func:`ctrlgen.oracles.slots.normalise` (``words``) and the same words in their original case
(``original``); a mention is ``n`` words from ``k``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

__all__ = ["DENIALS", "dangling", "name_as_modifier", "negated_across"]

_SENTENCE_ENDS = frozenset(".!?;")
#: Capitalised in mid-sentence, these open a new clause the text forgot to stop before: "… The Cricketers That fast".
_CLAUSE_OPENERS = frozenset(("That", "This", "These", "Those", "Which", "It", "They"))
#: Words a sentence of nothing but the value may hold besides it: determiners and punctuation.
_DETERMINERS = frozenset("the a an that this these those its their some ,".split())
_DEMONSTRATIVES = frozenset(("that", "this", "these", "those"))  # point at something the sentence never says
_VALUE_NOUNS = frozenset(("food", "cuisine"))  # said with a food value, no more than it: "That Italian food ."
_VERBS = frozenset("is are was were has have had".split())  # a mention that holds one says something itself
#: Words that make a name after them a modifier of the noun that follows it (*a family Strada shop*): adjectives and
#: noun modifiers of the fields' values — not nouns that end a phrase (*With a low rating The Mill pub is …*).
_MODIFIER_WORDS = frozenset(
    "family families kid kids child children cheap expensive high low average moderate moderately highly rated priced "
    "friendly family-friendly kid-friendly kids-friendly child-friendly children-friendly well-rated low-rated "
    "high-rated riverside".split())
#: Nouns a name may modify: the fields' nouns (*a family Strada shop*, *a X customer rating*) — not the kinds of
#: place, which a name names (*the kid friendly Aromi coffee shop*, *the highly rated Cotto restaurant*).
_MODIFIED_NOUNS = frozenset("shop food customer rating ratings price prices range area location".split())
#: A phrase right after one of these is denied: "not expensive", "never cheap" (and, across a word, "not child Fast
#: food": :func:`negated_across`).
DENIALS = frozenset("not n't never no nor isn't aren't wasn't without lacks lacking lack".split())


def _sentence(words: Sequence[str], original: Sequence[str], k: int, n: int) -> tuple[int, int]:
    """The word span ``[a, b)`` of the sentence that holds words ``k … k+n-1`` (module docstring)."""
    a = k
    while a > 0 and words[a - 1] not in _SENTENCE_ENDS and original[a] not in _CLAUSE_OPENERS:
        a -= 1
    b = k + n
    while b < len(words) and words[b] not in _SENTENCE_ENDS and original[b] not in _CLAUSE_OPENERS:
        b += 1
    return a, b


def dangling(words: Sequence[str], original: Sequence[str], k: int, n: int, *, name: bool) -> bool:
    """Whether the mention at ``k`` (``n`` words) is all its sentence says, but for determiners: *… priced . The
    Golden Palace* (a ``name``), *… The Cricketers That fast food .* (not *The Golden Palace is a pub .*, *Cheap
    prices .*). A value that is not a name must follow a demonstrative (*That fast food*): a bare value word
    (*… rating . riverside*, *the Peruvian .*) is telegraphic, a list of the place's features that labellers read as
    said."""
    if any(w in _VERBS for w in words[k:k + n]):  # the mention is a clause: "The price range is moderate ."
        return False
    a, b = _sentence(words, original, k, n)
    if name and a == 0:  # a name alone that opens the text is its heading: "The Wrestlers . Child friendly …"
        return False
    rest = [words[i] for i in [*range(a, k), *range(k + n, b)]]
    return all(w in _DETERMINERS or w in _VALUE_NOUNS for w in rest) \
        and (name or any(w in _DEMONSTRATIVES for w in words[a:k]))


def name_as_modifier(words: Sequence[str], original: Sequence[str], k: int, n: int) -> bool:
    """Whether the name at ``k`` (``n`` words) modifies a noun after it: a field's modifier word before it and one
    of :data:`_MODIFIED_NOUNS` after it (*a family Strada shop*, *a highly rated Cotto customer rating*), or *a* /
    *an* before a name that opens with *The* and such a noun after it (*a The Golden Palace customer rating*). Not
    *the highly rated Cotto restaurant*, *is The Vaults pub*, *a family friendly Strada is …*."""
    if k == 0 or k + n >= len(words) or words[k + n] not in _MODIFIED_NOUNS or not original[k + n][:1].islower():
        return False
    left = words[k - 1]
    return (left in _MODIFIER_WORDS and original[k - 1][:1].islower()) or (left in ("a", "an") and words[k] == "the")


def negated_across(words: Sequence[str], k: int, is_value: Callable[[str], bool]) -> bool:
    """Whether a negation two words before ``k`` reaches the value across the word between: *not child Fast food*;
    across a verb it reaches the verb's object (*does not serve Chinese food*). Not when that word, alone or with
    the negation, is a value phrase of its own (``is_value``: *not family-friendly Japanese food*, *not expensive
    Japanese food*, *a no children coffee shop*), nor across punctuation, a number, a conjunction, *only* or
    *just* (*not only Japanese food*)."""
    if k < 2 or words[k - 2] not in DENIALS:
        return False
    between = words[k - 1]
    return re.fullmatch(r"[a-z]+", between) is not None and between not in ("and", "or", "but", "only", "just") \
        and not is_value(between) and not is_value(f"{words[k - 2]} {between}")  # "a no children coffee shop"
