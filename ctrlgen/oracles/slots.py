"""Slot realisation: does a text say ``field = value`` *as that field*? (the check behind ``SemanticField``)

In the spirit of the E2E challenge's slot-error scripts (Dušek et al., 2020): each field has patterns for how
its values are said, and a value counts only where it plays that field's role. A plain substring test (what
Diffusion-LM scores, :func:`~ctrlgen.oracles.metrics.semantic_success`) accepts *"a pub near Japanese"* as
``food = Japanese`` and *"a high customer rating"* as ``priceRange = high``; this check does not.

Rules, on a normalised text (lower case, ``family - friendly`` → ``family-friendly``, ``£ 20`` → ``£20``, a word said
twice in a row read once: *not family family friendly* is *not family friendly*, *a pub pub* is *a pub*):

- ``near``: the value follows a proximity cue (*near, by, beside, close to, next to, opposite, not far from,
  located at/in ...* within the two words before it, in the same sentence) and is not run into a capitalised word
  that makes another name (*near Clare Hall Cuisine*: :func:`~ctrlgen.oracles.slot_names.landmark_runs_on`).
- ``name``: the value occurs not as a ``near`` value (some occurrence without a proximity cue before it) and not
  run into another name (*a pub Blue Spice Cotto* does not name Cotto), and the text gives its place no other name:
  *… called Giraffe*, a sentence opening *The Phoenix ,*, *… is The Vaults*, a clause whose subject is *Giraffe is
  …*, a second *The …* run into the first (*The Mill The Plough*) — any name with a word the value lacks
  (:mod:`ctrlgen.oracles.slot_names`); nor only as a modifier of a field's noun (*a family Strada shop*, *a The
  Golden Palace customer rating*) or alone in a sentence after the first (*… priced . The Golden Palace*:
  :mod:`ctrlgen.oracles.slot_frame`); nor only inside a place phrase (*food in the Loch Fyne*, *… around city centre
  Cocum .*: :func:`~ctrlgen.oracles.slot_names.in_a_place_phrase`); nor only later in a sentence whose subject is a
  bare *The* (*The is a kids-friendly The Cambridge Blue coffee shop*:
  :func:`~ctrlgen.oracles.slot_names.after_a_bare_the`).
- every other field: the value's phrasing occurs
  - outside ``near`` phrases (a proximity cue, maybe ``the``, then capitalised words up to a second *The*), so
    *near Japanese* is not ``food = Japanese``;
  - not right after *near*/*beside*/*opposite* (except an ``area``): *near expensive* is no price; nor, without a
    cue of its own field (*£*, a number, *price*, *rating*, *stars*), right after such a landmark: in *Near Rainbow
    Vegetarian Café expensive ,* the adjective describes the landmark (:func:`_in_role`);
  - not denied or only compared with: *not expensive*, *lacking a …*, *less than expensive*, *below average
    prices* (:func:`_denied`; comparisons do not apply to an ``area``: *just below the river*);
  - not in another field's slot: *the customer rating is Chinese* says no food; not inside a name that *called* /
    *named* opens (*a pub called English Blue Spice*); not the scale of a rating (*1 out of average*; a price with
    its cue is none: *3 out of moderate price range*);
  - for a price or rating, not right after a rival value word (*a moderate expensive pub*, *a low high rating*:
    :func:`_rival_before`), and with no stray number or *£* run into it (*a price range of cheap 20-25*, *less than
    £20 30*, *less than £moderate price*, *£20-25 than £30*; a repeated *£20-25 25* is no other amount:
    :func:`~ctrlgen.oracles.slot_context.glued_amount`);
  - not in the middle of a longer proper name (capitalised words on both sides, not articles or other values):
    *Raja Indian Cuisine* is not ``food = Indian``, *A Japanese English pub* says both foods;
  - ``eatType = coffee shop`` needs the words "coffee shop" (*café* is not accepted);
  - not in a frame that says nothing of the place (:mod:`ctrlgen.oracles.slot_frame`): a sentence of the value and
    determiners alone (*… priced . That fast food .*), a negation across one word (*not child Fast food*).
- ``area``: ``riverside`` — *riverside*, *river side*, *(by/near/on/along/beside) the river*, *waterfront*;
  ``city centre`` — *city/town centre|center*, *centre of the city/town*.
- ``priceRange`` and ``customer rating``: the value's own phrasings next to the field's cue (*price*, *priced*,
  *£*, *cost* / *rating*, *rated*, *star(s)*), e.g. ``high`` price: *high price range*, *price range is high*,
  *expensive*, *high-priced*, but not *high customer rating*; numbers as digits or words (*5 out of 5*,
  *five stars*; not *a rating of 5*, nor the *5* of *1 out 5 stars* or *1-5 stars*). ``cheap`` accepts *less than
  £20* and ``high`` *more than £30* (the same meaning: :data:`EXCLUSIVE` groups them).
- ``familyFriendly``: ``yes`` — *family/kid(s)/child/children-friendly*, *welcomes children* … and no negation;
  ``no`` — *not family-friendly*, *non family-friendly*, *not a family place*, *no children*, *adults only* …; a
  negation must reach the friendliness: *if your kids not family want …* denies nothing; *family friendly* right
  after a landmark describes the landmark; right after *adult* (*an adult family friendly pub*, :data:`ADULT`) it
  says neither value.
- A conflicting value of the same field (:data:`EXCLUSIVE`: price, rating, area, eatType, the seven E2E foods) makes
  the check fail: *a high price cheap pub* does not say ``priceRange = high``.
- A value the rules above do not know (say ``priceRange = £10-15``, a new ``food``) falls back to the value's
  words, case-insensitive, under the same exclusions (``near`` and ``name`` values are always taken literally).

:func:`slot_realised` is the check; :data:`NEAR_CUES` and :func:`normalise` are shared with tests.
Measured against hand-labelled outputs by ``recipes/check_precision.py`` (precision of ``satisfied``), and on E2E
references by ``recipes/slot_check_refs.py`` (recall of each reference's own MR, false positives on the field's
other values). The phrasings themselves live in :mod:`ctrlgen.oracles.slot_patterns`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from ctrlgen.errors import ConfigError
from ctrlgen.oracles.slot_context import glued_amount
from ctrlgen.oracles.slot_frame import DENIALS, dangling, name_as_modifier, negated_across
from ctrlgen.oracles.slot_names import (
    NAMING_CUES,
    NOT_NAME_WORDS,
    after_a_bare_the,
    glued_to_a_name,
    in_a_place_phrase,
    introduced_names,
    landmark_runs_on,
)
from ctrlgen.oracles.slot_patterns import ADULT, EXCLUSIVE, FF_NO, FF_YES, FIELD_CUE, NEAR_CUES, PATTERNS

__all__ = ["EXCLUSIVE", "LANDMARK_CUES", "NEAR_CUES", "PATTERNS", "normalise", "normalise_case_kept", "slot_realised"]

LANDMARK_CUES = ("near", "beside", "opposite", "nearby")  # what follows one of these is a place: "near expensive"


@lru_cache(maxsize=4096)  # the edit backend judges many candidates, each against every value of a field
def normalise(text: str) -> str:
    """Lower case, single spaces, ``a - b`` → ``a-b``, ``£ 20`` → ``£20``, spaces around punctuation, a word said twice
    in a row once."""
    t = text.lower()
    t = re.sub(r"\s*-\s*", "-", t)
    t = re.sub(r"£\s+", "£", t)
    t = re.sub(r"([.,;!?()])", r" \1 ", t)
    return " ".join(_unstutter(t.split(), t.split()))


def _unstutter(words: list[str], lower: list[str]) -> list[str]:
    """``words`` with a word said twice in a row said once (``not family family friendly``, ``a pub pub``), by
    ``lower`` (the same words lower-cased); numbers and punctuation are kept as they are."""
    return [w for n, w in enumerate(words) if not (n and lower[n] == lower[n - 1] and lower[n].isalpha())]


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _near_spans(words: list[str], original: Sequence[str]) -> list[tuple[int, int]]:
    """Word spans ``[i, j)`` that name a landmark: a proximity cue followed (skipping ``the``) by up to four words
    that start with a capital (``near The Portland Arms``, ``close to Raja Indian Cuisine``, also ``near
    Japanese``); a capitalised *The* ends it (``near Burger King The Eagle coffee shop``: the landmark is Burger
    King)."""
    spans = []
    for i, w in enumerate(words):
        if w not in NEAR_CUES:
            continue
        j = i + 1 + (i + 1 < len(words) and words[i + 1] == "the")
        k = j
        while k < len(words) and k - j < 4 and original[k][:1].isupper() and (k == j or original[k] != "The"):
            k += 1
        if k > j:
            spans.append((j, k))
    return spans


def _inside_name(original: Sequence[str], k: int, n: int) -> bool:
    """Whether words ``k … k+n-1`` sit inside a longer proper name: capitalised words on both sides
    (``Raja Indian Cuisine``, ``The Chinese Cricketers``), so not ``serves Indian Cuisine`` or ``English Food``; an
    article (``A Japanese English pub``) or another field value (``Japanese English``) is no part of a name."""
    def in_name(w: str) -> bool:
        return w[:1].isupper() and w not in ("A", "An") and w.lower() not in NOT_NAME_WORDS

    return k > 0 and in_name(original[k - 1]) and k + n < len(original) and in_name(original[k + n])




def _word_at(norm: str, pos: int) -> int:
    """The index of the word of ``norm`` that holds character ``pos`` (a match may start inside a word: the *cheap*
    of *20-cheap*)."""
    return len(norm[:pos].split()) - (pos > 0 and norm[pos - 1] != " ")


def _occurrences(words: list[str], value_words: list[str]) -> list[int]:
    n = len(value_words)
    return [k for k in range(len(words) - n + 1) if words[k:k + n] == value_words]


def slot_realised(text: str, field: str, value: str) -> bool:
    """Whether ``text`` realises ``field = value`` as that field and says no conflicting value of the same field
    (*a high price cheap pub* is not ``priceRange = high``; rules in the module docstring)."""
    if not _realised(text, field, value):
        return False
    groups = EXCLUSIVE.get(field, ())
    own = next((g for g in groups if value in g), None)
    if own is None:
        return True
    return not any(_realised(text, field, other, rivals=False) for g in groups if g is not own for other in g)


def _cued(words: list[str], k: int) -> bool:
    """Whether a proximity cue stands within the two words before ``k`` in the same clause (``near the Ranch``,
    ``close to Café Rouge``; not ``… is nearby . Blue Spice``)."""
    return (k >= 1 and words[k - 1] in NEAR_CUES) or (k >= 2 and words[k - 2] in NEAR_CUES
                                                       and words[k - 1] not in (".", ";", "!", "?"))


def _realised(text: str, field: str, value: str, rivals: bool = True) -> bool:
    """``rivals``: the value asked (True) or a conflicting one (False: no rival-word or garble filter, so a
    conflict counts even in garbled text)."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"slot value must be a non-empty string, got {value!r}", "e.g. ('food', 'Japanese')")
    norm = normalise(text)
    original = normalise_case_kept(text)

    def placed(start: int, end: int) -> bool:  # no stray amount run into the mention (asked value only)
        return not rivals or not glued_amount(norm, start, end, field)

    words, value_words = norm.split(), normalise(value).split()
    spans = _near_spans(words, original)
    hits = _occurrences(words, value_words)
    if field == "near":
        # the value itself must follow a cue (within two words: "near the Ranch", "close to Café Rouge"), and end
        # there: "near Clare Hall Cuisine" is another landmark
        return any(_cued(words, k) and not landmark_runs_on(words, original, k, len(value_words)) for k in hits)
    if field == "name":
        said = any(not _cued(words, k) and not glued_to_a_name(words, original, k, len(value_words), spans)
                   and not name_as_modifier(words, original, k, len(value_words))
                   and not dangling(words, original, k, len(value_words), name=True)
                   and not in_a_place_phrase(words, original, k, len(value_words))
                   and not after_a_bare_the(words, k) for k in hits)
        own = set(value_words) - {"the"}
        return said and not any(other - own for other in introduced_names(words, original, spans))
    if field == "familyFriendly" and value.lower() in ("yes", "no"):
        no_spans = [m.span() for m in _compiled(FF_NO).finditer(norm)]
        yes = [(m, _word_at(norm, m.start())) for m in _compiled(FF_YES).finditer(norm)]
        yes_free = [k for m, k in yes if not any(a <= m.start() < b or m.start() <= a < m.end() for a, b in no_spans)
                    and not _after_landmark(words, spans, k)]  # outside every negation, not a landmark's epithet
        if value.lower() == "no":
            return bool(no_spans) and not yes_free
        return not no_spans and any(k == 0 or words[k - 1] not in ADULT for k in yes_free)  # "an adult family …"
    pattern = PATTERNS.get((field, value))
    if pattern is not None:
        return any(_in_role(words, original, k, m.group(0), spans, field)
                   and not (rivals and _rival_before(words, k, m.group(0), field, value)) and placed(*m.span())
                   for m in _compiled(pattern).finditer(norm) for k in [_word_at(norm, m.start())])
    phrase = " ".join(value_words)
    return any(_in_role(words, original, k, phrase, spans, field, place=False)
               and placed(start, start + len(phrase)) for k in hits for start in [len(" ".join(words[:k] + [""]))])


#: Words between a negation or comparison and what it governs ("not so cheap", "less than a high price").
_FILLERS = frozenset("a an so very too really that the particularly especially".split())
_DENIALS = DENIALS  # a phrase right after one of these (skipping :data:`_FILLERS`) is denied: "not expensive"
#: ... or only compared with (unless it is a place: "just below the river"): "less than expensive", "below average
#: prices", "higher than average".
_COMPARISONS = frozenset("than below above less".split())
#: Words that open a field's slot: what follows "<cue> is" belongs to that field.
_FIELD_CUES = {"priceRange": frozenset("price prices priced pricing range cost costs".split()),
               "customer rating": frozenset("rating ratings rated review reviews".split())}


#: A price said with its cue, in a mention or right after it: "moderate price range", "cheap prices", "£20".
_PRICE_CUE = r"£|\bpric|\bcost"
#: The noun that makes a bare adjective a value of its field: "moderate" + " price", "low" + " rating".
_CUE_NOUN = {"priceRange": "price", "customer rating": "rating"}


def _rival_before(words: list[str], k: int, phrase: str, field: str, value: str) -> bool:
    """Whether the word before a bare adjective ``phrase`` at ``k`` is, with its field's noun, another value of the
    field: *a moderate expensive pub* (``moderate price``), *a low high rating* (``low rating``) say two values at
    once; an amount is left alone (*prices average more than £30*). Only for the value asked: as a conflicting
    value (:func:`slot_realised`) *cheap* still counts in *expensive cheap food*."""
    if field not in _CUE_NOUN or k == 0 or _compiled(r"£|\d").search(phrase):
        return False
    probe = f"{words[k - 1]} {_CUE_NOUN[field]}"
    return any(_compiled(PATTERNS[(field, other)]).search(probe) for g in EXCLUSIVE.get(field, ()) if value not in g
               for other in g if (field, other) in PATTERNS)


def _after_landmark(words: list[str], spans: list[tuple[int, int]], k: int) -> bool:
    """Whether word ``k`` directly follows a landmark that *near* / *beside* … opens (``near Café Rouge _``)."""
    return any(j == k and words[i - 1 - (words[i - 1] == "the")] in LANDMARK_CUES for i, j in spans)


def _denied(words: list[str], k: int, place: bool, priced: bool = False) -> bool:
    """``priced``: the mention is a price with its cue (*moderate price range*), which no rating's scale can be."""
    i = k - 1
    while i >= 0 and words[i] in _FILLERS:
        i -= 1
    if i >= 0 and (words[i] == "out" or words[i - 1:i + 1] == ["out", "of"]) and not priced:
        return True  # "1 out of average", "1 out high rating": the scale; "3 out of moderate price range" is a price
    return i >= 0 and (words[i] in _DENIALS or (not place and words[i] in _COMPARISONS))


@lru_cache(maxsize=1024)
def _value_word(word: str) -> bool:
    """Whether one word is a value phrase of some field on its own (*expensive*, *family-friendly*; not *child*)."""
    return any(_compiled(p).search(word) for p in (*PATTERNS.values(), FF_YES, FF_NO))


def _in_role(words: list[str], original: Sequence[str], k: int, phrase: str, spans: list[tuple[int, int]],
             field: str, place: bool | None = None) -> bool:
    """Whether ``phrase``, at word ``k``, can say a field's value: not inside a landmark (``near Raja Indian
    Cuisine``), not in the middle of a longer proper name, not denied or compared (:func:`_denied`, and across a
    word: :func:`~ctrlgen.oracles.slot_frame.negated_across`), not alone in its sentence
    (:func:`~ctrlgen.oracles.slot_frame.dangling`), not the value
    of another field's cue (``the customer rating is Chinese``: :data:`_FIELD_CUES`), not
    part of a name (``called English Blue Spice``), and — unless it is a
    ``place`` (by default an ``area``: *near the riverside*) — not right after *near* (``near expensive``), nor,
    when it carries no cue of its field (:data:`FIELD_CUE`, in it or the word after it), right after a landmark that
    *near* / *beside* … opens (``Near Rainbow Vegetarian Café expensive ,``: an epithet of the landmark, not a
    price; ``near Café Rouge 5 out of 5`` is still a rating; ``at The Mill pub`` is the place itself)."""
    place = field == "area" if place is None else place
    n = len(phrase.split())
    priced = field == "priceRange" and _compiled(_PRICE_CUE).search(" ".join(words[k:k + n + 1])) is not None
    if any(i <= k < j for i, j in spans) or _inside_name(original, k, n) or _denied(words, k, place, priced) \
            or negated_across(words, k, _value_word) or dangling(words, original, k, n, name=False):
        return False
    foreign = [cues for f, cues in _FIELD_CUES.items() if f != field]
    if k >= 2 and words[k - 1] in ("is", "are", "was", "of", ":") and any(words[k - 2] in c for c in foreign):
        return False  # "the customer rating is Chinese"
    if (k >= 1 and words[k - 1] in NAMING_CUES) or (k >= 2 and words[k - 2:k] in (["called", "the"], ["named", "the"])):
        return False  # "a pub called English Blue Spice": part of the name
    after_landmark = _after_landmark(words, spans, k) \
        and not _compiled(FIELD_CUE).search(" ".join(words[k:k + len(phrase.split()) + 1]))  # "cheap prices"
    return place or not ((k > 0 and words[k - 1] in LANDMARK_CUES) or after_landmark)


@lru_cache(maxsize=4096)
def normalise_case_kept(text: str) -> tuple[str, ...]:
    """The words of :func:`normalise` with their original case (same length, same order)."""
    t = re.sub(r"\s*-\s*", "-", text)
    t = re.sub(r"£\s+", "£", t)
    t = re.sub(r"([.,;!?()])", r" \1 ", t)
    return tuple(_unstutter(t.split(), t.lower().split()))
