"""Slot realisation: does a text say ``field = value`` *as that field*? (the check behind ``SemanticField``)

In the spirit of the E2E challenge's slot-error scripts (Dušek et al., 2020): each field has patterns for how
its values are said, and a value counts only where it plays that field's role. A plain substring test (what
Diffusion-LM scores, :func:`~ctrlgen.oracles.metrics.semantic_success`) accepts *"a pub near Japanese"* as
``food = Japanese`` and *"a high customer rating"* as ``priceRange = high``; this check does not.

Rules, on a normalised text (lower case, ``family - friendly`` → ``family-friendly``, ``£ 20`` → ``£20``):

- ``near``: the value follows a proximity cue (*near, by, beside, close to, next to, opposite, not far from,
  located at/in ...* within the two words before it).
- ``name``: the value occurs and not as a ``near`` value (some occurrence without a proximity cue before it), and
  the text gives its place no other name (*… called Giraffe*, a sentence opening *The Phoenix ,* — names that
  share no word with the value; :func:`_introduced_names`).
- every other field: the value's phrasing occurs
  - outside ``near`` phrases (a proximity cue, maybe ``the``, then capitalised words), so *near Japanese* is not
    ``food = Japanese``;
  - not right after *near*/*beside*/*opposite* (except an ``area``): *near expensive* is no price;
  - not in the middle of a longer proper name (capitalised words on both sides): *Raja Indian Cuisine* is not
    ``food = Indian``;
  - ``eatType = coffee shop`` needs the words "coffee shop" (*café* is not accepted).
- ``area``: ``riverside`` — *riverside*, *river side*, *(by/near/on/along/beside) the river*, *waterfront*;
  ``city centre`` — *city/town centre|center*, *centre of the city/town*.
- ``priceRange`` and ``customer rating``: the value's own phrasings next to the field's cue (*price*, *priced*,
  *£*, *cost* / *rating*, *rated*, *star(s)*), e.g. ``high`` price: *high price range*, *price range is high*,
  *expensive*, *high-priced*, but not *high customer rating*; numbers as digits or words (*5 out of 5*,
  *five stars*; not *a rating of 5*).
- ``familyFriendly``: ``yes`` — *family/kid(s)/child/children-friendly*, *welcomes children* … and no negation;
  ``no`` — *not family-friendly*, *non family-friendly*, *no children*, *adults only* …
- A conflicting value of the same field (:data:`EXCLUSIVE`: price, rating, area, eatType, the seven E2E foods) makes the
  check fail: *a high price cheap pub* does not say ``priceRange = high``.
- A value the rules above do not know (say ``priceRange = £10-15``, a new ``food``) falls back to the value's
  words, case-insensitive, under the same exclusions (``near`` and ``name`` values are always taken literally).

:func:`slot_realised` is the check; :data:`NEAR_CUES` and :func:`normalise` are shared with tests.
Measured against a hand-labelled set of outputs by ``recipes/check_precision.py``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from ctrlgen.errors import ConfigError

NEAR_CUES = ("near", "by", "beside", "to", "opposite", "from", "nearby", "at", "alongside", "around")
# "close to", "next to", "adjacent to", "not far from", "located at" all end in a cue word; "to" / "at" alone
# ("went to", "at a low price") never precede a capitalised value in this domain, so the rule stays tight by
# also requiring the value to start with a capital where the text has one.

LANDMARK_CUES = ("near", "beside", "opposite", "nearby")  # what follows one of these is a place: "near expensive"

_NUM = {"1": "one", "2": "two", "3": "three", "4": "four", "5": "five"}


@lru_cache(maxsize=4096)  # the edit backend judges many candidates, each against every value of a field
def normalise(text: str) -> str:
    """Lower case, single spaces, ``a - b`` → ``a-b``, ``£ 20`` → ``£20``, spaces around punctuation."""
    t = text.lower()
    t = re.sub(r"\s*-\s*", "-", t)
    t = re.sub(r"£\s+", "£", t)
    t = re.sub(r"([.,;!?()])", r" \1 ", t)
    return " ".join(t.split())


def _rating(n: str) -> str:
    w = _NUM[n]
    return rf"\b(?:{n}|{w}) out of (?:5|five)\b|(?<!out of )\b(?:{n}|{w})[- ]stars?\b"  # not "a rating of 5"


def _any(*alternatives: str) -> str:
    return "|".join(alternatives)


_PRICE = r"(?:price|prices|priced|pricing|cost|costs)"
_RATED = r"(?:rating|ratings|rated|review|reviews|reviewed)"
_FF = r"(?:family|families|kid|kids|child|children|children's)"
_IS = r"(?: range)? (?:is |are |as |of )?"
_FF_NO = _any(
    rf"(?:\bnot|\bnon|\bnever|n't)(?: very| a| an| really| that)?(?: {_FF}|-{_FF}|-friendly)",
    r"\bno (?:kids|children|families|child)\b", r"\badults? only\b", r"\bfor adults\b",
    rf"\b{_FF}[- ]free\b", rf"\b{_FF} should not\b",
    rf"\bnot (?:suitable|good|ideal|welcoming|friendly|for|allowed)\b[^.]{{0,20}}{_FF}",
    rf"\b(?:doesn't|does not|don't|do not) (?:allow|welcome|cater|accept)\b[^.]{{0,12}}{_FF}",
    rf"\b{_FF}(?:[- ]friendly)? (?:are|is) not\b", r"\bunfriendly\b")
_FF_YES = _any(
    rf"\b{_FF}[- ]?(?:friendly|oriented|orientated)\b", rf"\bfriendly (?:to|for|towards) {_FF}",
    rf"\b(?:welcomes?|allows?|accepts?|caters? (?:to|for)|suitable for|good for|great for|ideal for|perfect for) "
    rf"(?:the )?(?:whole )?{_FF}\b",
    rf"\b{_FF} (?:are|is) welcome\b")
_CHEAP = _any(r"\bcheap(?:ly|er)?\b", r"\binexpensive\b", r"\blow[- ]?pric")

PATTERNS: dict[tuple[str, str], str] = {
    ("area", "riverside"): _any(r"\briver ?side\b", r"\b(?:by|near|on|along|beside|next to|close to|at) the river\b",
                                r"\bwaterfront\b", r"\briver\b"),
    ("area", "city centre"): _any(r"\b(?:city|town) cent(?:re|er)\b", r"\bcent(?:re|er) of (?:the )?(?:city|town)\b",
                                  r"\bcentral\b", r"\bdowntown\b"),
    ("priceRange", "cheap"): _any(_CHEAP, r"\baffordabl[ey]\b", rf"\blow[- ]?{_PRICE}", rf"\b{_PRICE}{_IS}low\b",
                                  r"\blow (?:price|cost)", r"\bbudget\b"),
    ("priceRange", "moderate"): _any(rf"\bmoderate(?:ly)?[- ]?{_PRICE}", r"\bmoderate (?:price|cost)",
                                     rf"\b{_PRICE}{_IS}moderate\b", rf"\bmid[- ]?(?:range|{_PRICE})",
                                     rf"\breasonabl[ey](?:[- ]{_PRICE})?", rf"\baverage[- ]?{_PRICE}"),
    ("priceRange", "high"): _any(rf"\bhigh(?:ly)?[- ]?{_PRICE}", r"\bhigh (?:price|cost)",
                                 rf"\b{_PRICE}{_IS}(?:high|expensive)\b", r"\bexpensive\b", r"\bprice?y\b",
                                 r"\bhigh[- ]end\b", r"\bcostly\b"),
    ("priceRange", "less than £20"): _any(r"\b(?:less than|under|below|lower than|up to|within) £20\b",
                                          r"£20 or (?:less|under)", _CHEAP),
    ("priceRange", "£20-25"): _any(r"£20 ?(?:-|to|and) ?£?25\b", r"\bbetween £20 and £?25\b"),
    ("priceRange", "more than £30"): _any(r"\b(?:more than|over|above|greater than|higher than|upwards of) £30\b",
                                          r"\bat least £30\b", r"£30 (?:or|and) (?:more|over|above|up)", r"£30\+",
                                          r"\bexpensive\b", r"\bhigh(?:ly)?[- ]?pric"),
    ("customer rating", "1 out of 5"): _rating("1"),
    ("customer rating", "3 out of 5"): _rating("3"),
    ("customer rating", "5 out of 5"): _rating("5"),
    ("customer rating", "high"): _any(rf"\bhigh(?:ly)?(?: customer)?[- ]{_RATED}", rf"\b{_RATED}{_IS}high(?:ly)?\b",
                                      r"\b(?:well|highly|top)[- ]rated\b", rf"\bexcellent (?:customer )?{_RATED}"),
    ("customer rating", "average"): _any(rf"\baverage(?: customer)?[- ]{_RATED}", rf"\b{_RATED}{_IS}(?:an )?average\b",
                                         r"\baverage(?:ly)?[- ]rated\b", r"\bmediocre\b"),
    ("customer rating", "low"): _any(rf"\b(?:low|poor|bad)(?:ly)?(?: customer)?[- ]{_RATED}",
                                     rf"\b{_RATED}{_IS}(?:low|poor)(?:ly)?\b", r"\b(?:poorly|badly|low)[- ]rated\b"),
    ("eatType", "coffee shop"): r"\bcoffee[- ]?shop\b",
    ("eatType", "pub"): r"\bpubs?\b",
    ("eatType", "restaurant"): r"\brestaurants?\b",
}


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _near_spans(words: list[str], original: Sequence[str]) -> list[tuple[int, int]]:
    """Word spans ``[i, j)`` that name a landmark: a proximity cue followed (skipping ``the``) by up to four words
    that start with a capital (``near The Portland Arms``, ``close to Raja Indian Cuisine``, also ``near
    Japanese``)."""
    spans = []
    for i, w in enumerate(words):
        if w not in NEAR_CUES:
            continue
        j = i + 1 + (i + 1 < len(words) and words[i + 1] == "the")
        k = j
        while k < len(words) and k - j < 4 and original[k][:1].isupper():
            k += 1
        if k > j:
            spans.append((j, k))
    return spans


def _inside_name(original: Sequence[str], k: int, n: int) -> bool:
    """Whether words ``k … k+n-1`` sit inside a longer proper name: capitalised words on both sides
    (``Raja Indian Cuisine``, ``The Chinese Cricketers``), so not ``serves Indian Cuisine`` or ``English Food``."""
    before = k > 0 and original[k - 1][:1].isupper()
    after = k + n < len(original) and original[k + n][:1].isupper()
    return before and after

NAMING_CUES = ("called", "named")


_NOT_NAME_WORDS = frozenset("chinese english fast food french italian japanese indian riverside city centre center "
                            "coffee shop pub restaurant family friendly kids kid children rating ratings".split())


def _introduced_names(words: list[str], original: Sequence[str]) -> list[set[str]]:
    """Names the text gives its subject: the capitalised words after *called* / *named* (``called The Mill``),
    and a sentence that opens with *The* and capitalised words (``The Phoenix , …``), as sets of lower-case
    words without *the* and the field values' own words (*The Chinese coffee shop* names nobody).

    ``name = v`` fails when one of them shares no word with ``v``: *The Mill … It is called Giraffe*."""
    names = []
    for i, w in enumerate(words):
        opens = (i == 0 or words[i - 1] in (".", "!", "?")) and w == "the"
        if not (w in NAMING_CUES or opens):
            continue
        j = i + 1 if w in NAMING_CUES else i
        k = j + (j < len(words) and words[j] == "the" and w in NAMING_CUES)
        while k < len(words) and k - j < 5 and original[k][:1].isupper():
            k += 1
        if k > j + (words[j] == "the" if j < len(words) else 0):
            names.append(set(words[j:k]) - {"the"} - _NOT_NAME_WORDS)
    return names


def _occurrences(words: list[str], value_words: list[str]) -> list[int]:
    n = len(value_words)
    return [k for k in range(len(words) - n + 1) if words[k:k + n] == value_words]


#: Values of one field that a text cannot both say; a value conflicts with every other value of its field except
#: the ones in its group ("cheap" is a fair way to say "less than £20").
EXCLUSIVE: dict[str, tuple[frozenset[str], ...]] = {
    "priceRange": (frozenset({"cheap", "less than £20"}), frozenset({"moderate", "£20-25"}),
                   frozenset({"high", "more than £30"})),
    "customer rating": (frozenset({"low", "1 out of 5"}), frozenset({"average", "3 out of 5"}),
                        frozenset({"high", "5 out of 5"})),
    "area": (frozenset({"riverside"}), frozenset({"city centre"})),
    "food": tuple(frozenset({v}) for v in ("Chinese", "English", "Fast food", "French", "Italian", "Japanese",
                                           "Indian")),
    "eatType": (frozenset({"coffee shop"}), frozenset({"pub"}), frozenset({"restaurant"})),
}


def slot_realised(text: str, field: str, value: str) -> bool:
    """Whether ``text`` realises ``field = value`` as that field and says no conflicting value of the same field
    (*a high price cheap pub* is not ``priceRange = high``; rules in the module docstring)."""
    if not _realised(text, field, value):
        return False
    groups = EXCLUSIVE.get(field, ())
    own = next((g for g in groups if value in g), None)
    if own is None:
        return True
    return not any(_realised(text, field, other) for g in groups if g is not own for other in g)


def _realised(text: str, field: str, value: str) -> bool:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"slot value must be a non-empty string, got {value!r}", "e.g. ('food', 'Japanese')")
    norm = normalise(text)
    original = normalise_case_kept(text)
    words, value_words = norm.split(), normalise(value).split()
    inside_near = {k for i, j in _near_spans(words, original) for k in range(i, j)}
    hits = _occurrences(words, value_words)
    if field == "near":
        # the value itself must follow a cue (within two words: "near the Ranch", "close to Café Rouge")
        return any(any(words[k - d] in NEAR_CUES for d in (1, 2) if k - d >= 0) for k in hits)
    if field == "name":
        said = any(not any(words[k - d] in NEAR_CUES for d in (1, 2) if k - d >= 0) for k in hits)
        own = set(value_words) - {"the"}
        return said and not any(other and not (own & other) for other in _introduced_names(words, original))
    if field == "familyFriendly" and value.lower() in ("yes", "no"):
        no_spans = [m.span() for m in _compiled(_FF_NO).finditer(norm)]
        yes_free = any(not any(a <= m.start() < b or m.start() <= a < m.end() for a, b in no_spans)
                       for m in _compiled(_FF_YES).finditer(norm))  # "family-friendly" outside every negation
        return bool(no_spans) and not yes_free if value.lower() == "no" else (not no_spans and yes_free)
    pattern = PATTERNS.get((field, value))
    if pattern is not None:
        for m in _compiled(pattern).finditer(norm):
            k = len(norm[:m.start()].split())
            if k not in inside_near and not _inside_name(original, k, len(m.group(0).split())) \
                    and not (field != "area" and k > 0 and words[k - 1] in LANDMARK_CUES):
                return True
        return False
    return any(k not in inside_near and not _inside_name(original, k, len(value_words))
               and not (k > 0 and words[k - 1] in LANDMARK_CUES) for k in hits)


@lru_cache(maxsize=4096)
def normalise_case_kept(text: str) -> tuple[str, ...]:
    """The words of :func:`normalise` with their original case (same length, same order)."""
    t = re.sub(r"\s*-\s*", "-", text)
    t = re.sub(r"£\s+", "£", t)
    t = re.sub(r"([.,;!?()])", r" \1 ", t)
    return tuple(t.split())
