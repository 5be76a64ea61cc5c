"""Words that need a certain kind of phrase after them, and get another: three phrase rules of ``Infill``'s check.

:mod:`ctrlgen.oracles.phrases` and :mod:`ctrlgen.oracles.clauses` find phrases with no head and verbs with no
subject; these rules read the same dependency parse (:class:`~ctrlgen.oracles.parse_labels.Parse`) for a word whose
complement is of the wrong kind:

- an **indefinite article before a plural noun** (:func:`plural_after_indefinite`): *with a low prices*, *a
  medium prices* — the noun the article determines is plural (``NNS``), with adjectives between (the closed-class
  rule of :mod:`ctrlgen.oracles.wellformed` sees only the word right after the article). Not *a few …*, *a couple
  of …*, *a great many …*, nor a plural that modifies what follows it, whatever the parse's head (*a whole foods
  pub*, *a non kids friendly pub*);
- a **location participle with no place phrase** (:func:`bare_location`): *is located the Riverside*, *is
  located riverside*, *situated the city centre* — *located*, *situated*, *sited* … in the passive need a place
  phrase (*in*, *near*, *by the riverside*, an adverb: *nearby*), not a noun phrase, nor a preposition that places
  nothing on its own (:data:`NO_PLACE_PREPOSITIONS`: *is located to The Sorrento*, *located of the river*; *located
  to the north of …* is a place phrase). A measure before a
  preposition is one (*located a short walk from*, *located two miles from*); an active verb (*we located the
  pub*) and a compound modifier (*an English based restaurant*, as *English-based*) are no passive. *Be* right
  before an area noun is the same fault (*it is riverside*, *is city centre*: :data:`AREA_NOUNS`): the area needs
  *in* / *by the* (*is in the riverside area*, *is by the riverside*);
- a **verbless conjunct after a finite verb** (:func:`verbless_conjunct`): *has an average coffee shop and
  located near riverside*, *has a coffee shop and on the riverside* — *and* joins to a finite verb that is no form
  of *be* a participle with no auxiliary, a prepositional phrase or an adjective: the verb cannot be shared (*has …
  and located*), so the conjunct has none. After *be* it can be (*is a pub and located near …*, *is cheap and on
  the riverside*), so *be* is left alone.

One more reading of the parse goes the other way, for ``Infill``'s word pairs: :func:`object_starts` finds a verb
followed by the article or adjective that opens its direct object (*serves the food*, *serves bad food*). Such a
pair is grammatical whatever a corpus holds (E2E ``train.csv`` never has *serves the*), so ``Infill`` does not hold
it against a fill when the word-pair table has never seen it; the noun phrase it opens is still checked by the
phrase rules.

Only phrases that touch a free position (``touches``: 0-based word indices) count, so a template's own words are
never held against a fill. Measured with the other phrase rules by ``recipes/phrase_check_refs.py`` (false alarms
on E2E ``valid.csv`` references) and ``recipes/check_precision.py`` (precision against hand labels).
"""

from __future__ import annotations

from collections.abc import Sequence

from ctrlgen.oracles.parse_labels import SUBJECT_DEPS, Parse, children
from ctrlgen.oracles.wellformed import PLURAL_MODIFIER_ENDS

__all__ = ["bare_location", "object_starts", "plural_after_indefinite", "verbless_conjunct"]

#: Words after *a* / *an* that make a plural head fine: "a few prices", "a couple of", "a great many", "a dozen".
_QUANTIFIERS = frozenset("few couple lot great many dozen number variety range host".split())
#: Passive participles that place their subject: they take a place phrase, never an object.
LOCATION_PARTICIPLES = frozenset("located situated sited positioned nestled based".split())
_NOUN_PHRASE_STARTS = frozenset("DT PRP$ NN NNS NNP NNPS".split())  # opens a noun phrase (not CD: "two miles")
#: Prepositions that open no place phrase after a location participle (*located to X*, *located of X*, *located from
#: X*): a place needs *in*, *near*, *at* …, or a measure first (*two miles from*). Not *for* (*well located for the
#: station*), *with* or *on* (*based on*).
NO_PLACE_PREPOSITIONS = frozenset(("to", "of", "from"))
#: ... unless a direction or a side follows, maybe after *the*: *located to the north of X*, *located to one side*.
_DIRECTIONS = frozenset("north south east west northeast northwest southeast southwest left right rear back front "
                        "side one".split())
#: Measures that a place phrase may open with: "located a short walk from", "a stone's throw from".
_MEASURES = frozenset("walk walks minute minutes mile miles yard yards metre metres meter meters block blocks step "
                      "steps distance drive throw way kilometre kilometres".split())
_BE = frozenset("is are was were am be been being 's 're 'm".split())
#: Nouns that name an area, not a place one can be: "is riverside" needs "in" / "by the"; "city" only before "centre".
AREA_NOUNS = frozenset(("riverside", "centre", "center"))
_NOUN_TAGS = frozenset(("NN", "NNS", "NNP", "NNPS"))
_VERBLESS_TAGS = frozenset(("VBN", "VBG", "IN", "JJ"))  # a participle, a place phrase, an adjective


def plural_after_indefinite(words: Sequence[str], p: Parse, touches: set[int]) -> list[str]:
    """*a* / *an* whose noun is plural, across the words between (module docstring)."""
    out = []
    for i, w in enumerate(words):
        h = p.heads[i]
        if w.lower() not in ("a", "an") or p.deps[i] != "det" or h <= i + 1 or p.tags[h] != "NNS":
            continue
        after = words[h + 1].lower() if h + 1 < len(words) else ""
        if (after and p.tags[h + 1] in _NOUN_TAGS) or after.startswith(PLURAL_MODIFIER_ENDS):
            continue  # the plural modifies what follows: "a whole foods pub", "a non kids friendly pub"
        between = [x.lower() for x in words[i + 1:h]]
        if any(x in _QUANTIFIERS for x in between) or any(p.tags[k] == "CD" for k in range(i + 1, h)) \
                or touches.isdisjoint(range(i, h + 1)):
            continue
        out.append(f"{w!r} before the plural {' '.join(words[i + 1:h + 1])!r}")
    return out


def bare_location(words: Sequence[str], p: Parse, touches: set[int]) -> list[str]:
    """A location participle followed directly by a noun phrase that is no measure, or by a preposition that
    places nothing; *be* followed directly by an area noun (module docstring)."""
    out = []
    for k in range(len(words) - 1):
        area = words[k + 1].lower() in AREA_NOUNS or (words[k + 1].lower() == "city" and k + 2 < len(words)
                                                       and words[k + 2].lower() in AREA_NOUNS)
        if words[k].lower() in _BE and area and not touches.isdisjoint((k, k + 1)):
            out.append(f"{words[k]!r} before the area {words[k + 1]!r}: no place phrase")
            continue
        if words[k].lower() not in LOCATION_PARTICIPLES or p.tags[k] not in ("VBN", "VBD") \
                or touches.isdisjoint((k, k + 1)):
            continue
        if (p.tags[k] == "VBD" and children(p, k, SUBJECT_DEPS)) \
                or (words[k].lower() == "based" and k > 0 and p.tags[k - 1] in ("JJ", *_NOUN_TAGS)):
            continue  # active: "we located the pub"; a compound modifier: "an English based restaurant"
        if words[k + 1].lower() in NO_PLACE_PREPOSITIONS:
            after = [w.lower() for w in words[k + 2:k + 4] if w.lower() != "the"]  # "to the north of"
            if not (after and after[0] in _DIRECTIONS):
                out.append(f"{words[k]!r} before {words[k + 1]!r}: no place phrase")
            continue
        if p.tags[k + 1] not in _NOUN_PHRASE_STARTS:
            continue
        end = k + 1
        while end + 1 < len(words) and p.tags[end + 1] in _NOUN_PHRASE_STARTS | {"JJ", "CD", "POS", "HYPH"}:
            end += 1
        if any(x.lower() in _MEASURES for x in words[k + 1:end + 1]):
            continue
        out.append(f"{words[k]!r} before the noun phrase {' '.join(words[k + 1:end + 1])!r} (no place phrase)")
    return out


def verbless_conjunct(words: Sequence[str], p: Parse, touches: set[int]) -> list[str]:
    """A conjunct with no verb of its own that *and* / *or* / *but* joins to a finite verb other than *be*
    (module docstring)."""
    out = []
    for c, dep in enumerate(p.deps):
        v = p.heads[c]
        if dep != "conj" or p.tags[c] not in _VERBLESS_TAGS or not v < c or p.tags[v] not in ("VBZ", "VBP", "VBD") \
                or words[v].lower() in _BE or children(p, v, ("aux", "auxpass")):
            continue
        if p.tags[v] == "VBD" and not children(p, v, SUBJECT_DEPS):  # a participle the tagger read as past
            continue
        cc = [m for m in children(p, v, ("cc",)) if v < m < c and all(p.tags[x] == "RB" for x in range(m + 1, c))]
        if not cc or children(p, c, (*SUBJECT_DEPS, "aux", "auxpass")):  # "and also located": adverbs between
            continue
        if p.tags[c] == "IN" and not children(p, c, ("pobj", "pcomp")):
            continue
        if touches.isdisjoint(range(cc[0], c + 1)):
            continue
        out.append(f"{words[cc[0]]!r} joins {words[c]!r} to the finite verb {words[v]!r}: no verb after it")
    return out


_OBJECT_OPENERS = frozenset(("DT", "PRP$", "JJ", "JJR", "JJS"))  # an article, a possessive, an adjective


def object_starts(words: Sequence[str], p: Parse) -> set[int]:
    """The indices ``k`` of verbs whose direct object starts at word ``k + 1`` with an article, a possessive or an
    adjective (*serves [the food]*, *serves [bad food]*): the pair ``words[k], words[k + 1]`` is grammatical by the
    parse (module docstring)."""
    return {k for k in range(len(words) - 1) if p.tags[k].startswith("VB") and p.tags[k + 1] in _OBJECT_OPENERS
            and any(p.left_edges[d] == k + 1 for d in children(p, k, ("dobj",)))}
