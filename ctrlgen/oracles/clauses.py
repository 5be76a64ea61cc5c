"""Clauses with no subject or no verb, and predicates that coordinate unlike things: phrase rules of ``Infill``'s check.

:mod:`ctrlgen.oracles.phrases` finds phrases with no head and sentences with no main verb; these rules read
the same dependency parse (:class:`~ctrlgen.oracles.parse_labels.Parse`) for what is missing around a verb:

- a **sentence with no verb at all** (:func:`verbless_sentence`): the words between two sentence stops (*.*, *!*,
  *?*) hold no verb form of any kind, finite or not (*Cotto in the city centre near the river .*, *Near the
  riverside .*): a noun phrase with its place phrases, which says nothing of it. Sentences are cut at the stops, not
  where the parser starts a new one, so a clause the parser splits off is still read with its verb;
- a **finite verb with no subject** (:func:`no_subject`): a present-tense or modal verb of the main clause — the
  sentence's root or a verb coordinated with it — that has no subject of its own and none to share (*Near the
  river , near Clare Hall , has a low rating*; *Near the river , The Punter , and has …*, where *has* is
  coordinated with no verb at all). Not an imperative (*Try X and enjoy*), nor *there is*, nor a locative
  inversion (*Near the river is The Punter*: the subject follows the verb) — but a verb coordinated with an
  inverted one has no subject to share (*Near the river , is The Punter and has …*);
- an **adjective coordinated with a bare noun phrase as predicate** (:func:`unlike_predicate`): *is cheap and
  Chinese food*, *is cheap and the riverside*, *is cheap and The Sorrento*: the second conjunct is a noun phrase
  without an indefinite article (a bare noun, a place, a name), which cannot be said of the place the way
  the adjective is. *is cheap and a family restaurant*, *is cheap and family friendly*, *is in the city centre and
  The Portland Arms* (a place phrase first) are fine;
- a **bare attribute subject** (:func:`bare_subject`): the subject of a finite verb is two or more words, all
  of them words of the domain's attributes (:data:`ATTRIBUTE_WORDS`: *family friendly*, *city centre*, *coffee
  shop*, *price range*) with no determiner, possessive, number or name (*Family friendly , which serves fast food ,
  is near …*, *City centre , which serves … , is …*): a place is a name or a determined noun phrase (*Zizzi ,
  which …*, *The pub , which …*). Only attribute words, because the tagger reads many names as common nouns
  (*Cocum coffee shop has …*, *Wildwood is …*). E2E's headline style (*Price range is moderate*) is flagged too.

Only verbs and conjuncts whose sentence touches a free position count (``touches``: 0-based word indices), so a
template's own words are never held against a fill. Measured with the other phrase rules by
``recipes/phrase_check_refs.py`` (false alarms on E2E ``valid.csv`` references) and ``recipes/check_precision.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

from ctrlgen.oracles.parse_labels import SUBJECT_DEPS, Parse, children
from ctrlgen.oracles.slot_names import NOT_NAME_WORDS

__all__ = ["bare_subject", "no_subject", "unlike_predicate", "verbless_sentence"]

_PRESENT = frozenset(("VBZ", "VBP", "MD"))  # finite whatever their subject (a past form may be a participle)
_VERB_TAGS = frozenset("VB VBD VBZ VBP VBN VBG MD".split())
_STOPS = frozenset(".!?")  # what ends a sentence for :func:`verbless_sentence`
_BE = frozenset("is are was were".split())
_NOUNS = frozenset("NN NNS NNP NNPS".split())
_INDEFINITE = frozenset(("a", "an", "another", "one"))
#: What an adjective may be coordinated with inside a bare predicate noun: "[cheap and Chinese] food", "[cheap and city]
#: centre".
_CONJUNCT_TAGS = frozenset("JJ JJR JJS NN NNS NNP NNPS".split())
_PHRASE_TAGS = frozenset("DT PRP$ JJ JJR JJS NN NNS NNP NNPS CD HYPH".split())  # a noun phrase with no verb form


def _inverted(p: Parse, v: int) -> bool:
    """Whether *be* at ``v`` is a locative inversion: something before it (a place phrase, *here*, *Located near
    X ,*) and its subject after it, read by the parser as ``attr`` (*Near the river is The Punter*)."""
    return any(c < v for c in children(p, v, ("prep", "advmod", "advcl"))) \
        and any(c > v for c in children(p, v, ("attr",)))


def _clause_before(p: Parse, v: int) -> bool:
    """Whether a clause with a subject hangs before ``v``: the parser's reading of a list of predicates (*It is
    located near X , is not kid friendly and has …*: the first one a ``ccomp``) or of a subject with a participle
    after it (*The Waterman , sited near X , is …*: the subject hangs from *sited*)."""
    return any(children(p, c, SUBJECT_DEPS) for c in children(p, v, ("ccomp", "advcl")) if c < v)


def _misattached_subject(words: Sequence[str], p: Parse, v: int) -> bool:
    """Whether a noun phrase set off by commas before ``v`` opens with a determiner but hangs as a conjunct or an
    appositive of an earlier noun: the subject the parser attached to a landmark (*next to X , the pub , Blue Spice ,
    has …*). A place phrase (*near Clare Hall , has*) or a name after a place (*Near the river , The Punter , and
    has*: the *and* leaves *has* a conjunct) is not one."""
    return any(p.deps[n] in ("conj", "appos") and p.tags[n] in _NOUNS and p.sents[n] == p.sents[v]
               and p.tags[p.left_edges[n]] == "DT" and p.left_edges[n] > 0 and words[p.left_edges[n] - 1] == ","
               for n in range(v))


def _has_subject(words: Sequence[str], p: Parse, v: int, depth: int = 0) -> bool:
    """Whether the main-clause verb ``v`` has a subject: its own, an inverted one (*is* only, not shared), or — for
    a conjunct — that of the nearest verb above it (the parser may hang it from that verb's object); an imperative
    (``VB``) needs none. A conjunct with no verb above it (*Near the river , The Punter , and has*) has none."""
    if children(p, v, SUBJECT_DEPS) or p.tags[v] == "VB" or _clause_before(p, v) \
            or (p.deps[v] == "ROOT" and _misattached_subject(words, p, v)):
        return True
    if depth == 0 and words[v].lower() in _BE and _inverted(p, v):
        return True
    if p.deps[v] != "conj" or depth > 8:
        return False
    h = p.heads[v]
    while p.tags[h] not in _VERB_TAGS and p.heads[h] != h:
        h = p.heads[h]
    if p.tags[h] not in _VERB_TAGS:
        return False
    shared = children(p, h, SUBJECT_DEPS) or not (words[h].lower() in _BE and _inverted(p, h))
    return shared and _has_subject(words, p, h, depth + 1)


def no_subject(words: Sequence[str], p: Parse, touches: set[int]) -> list[str]:
    """The finite main-clause verbs with no subject, in sentences that touch ``touches`` (module docstring)."""
    out = []
    for k, tag in enumerate(p.tags):
        if tag not in _PRESENT:
            continue
        v = p.heads[k] if p.deps[k] in ("aux", "auxpass") else k  # "has been", "is located": the clause's verb
        if v < k:  # an auxiliary after its verb is an inversion the parser misread: "Located near X is Y"
            continue
        sentence = [i for i, s in enumerate(p.sents) if s == p.sents[v]]
        if p.deps[v] in ("ROOT", "conj") and not touches.isdisjoint(sentence) and not _has_subject(words, p, v):
            out.append(f"finite verb without a subject: {words[k]!r}")
    return out


def unlike_predicate(words: Sequence[str], p: Parse, touches: set[int]) -> list[str]:
    """Adjective predicates coordinated with a noun phrase that has no indefinite article (module docstring), in
    both parses the tagger gives them: the adjective a complement (``acomp``) with a noun conjunct (*is cheap and
    the riverside*), or the adjectives read as modifiers of a bare predicate noun (*is [cheap and Chinese] food*)."""
    out = []
    for a, dep in enumerate(p.deps):
        if p.tags[a][:2] != "JJ":
            continue
        v = p.heads[a]
        if dep == "acomp" and words[v].lower() in _BE:  # the conjunct hangs from the adjective or from the verb
            nouns = [d for d in [*children(p, a, ("conj",)), *(c for c in children(p, v, ("conj",)) if c > a)]
                     if p.tags[d] in _NOUNS and _bare_after_and(words, p, a, d)]
        elif dep == "amod" and p.deps[v] == "attr" and words[p.heads[v]].lower() in _BE and p.tags[v] in _NOUNS \
                and any(a < c < v and p.tags[c] in _CONJUNCT_TAGS for c in children(p, a, ("conj",))) \
                and not any(p.tags[i] in ("DT", "PRP$") for i in range(p.left_edges[v], v)):
            nouns = [v]  # "is [cheap and Chinese] food"
        else:
            continue
        for d in nouns:
            if not touches.isdisjoint(range(min(a, p.left_edges[d]), d + 1)):
                out.append(f"adjective and noun phrase coordinated as predicate: {words[a]!r} … {words[d]!r}")
    return out


def _bare_after_and(words: Sequence[str], p: Parse, a: int, d: int) -> bool:
    """Whether noun ``d`` heads a noun phrase that starts right after the *and* / *or* that follows adjective ``a``
    (a comma allowed before it), holds only nouns, adjectives and determiners, and has no indefinite article or
    possessive (*is cheap and the riverside*; not *… and a family restaurant*, *… and situated riverside*)."""
    j = a + 1 + (a + 1 < len(words) and words[a + 1] == ",")
    if j >= len(words) or words[j].lower() not in ("and", "or") or p.left_edges[d] != j + 1:
        return False
    if d + 1 < len(words) and p.tags[d + 1] in _PHRASE_TAGS:  # "and family friendly": the noun modifies what follows
        return False
    span = range(j + 1, d + 1)
    return all(p.tags[i] in _PHRASE_TAGS for i in span) and not any(
        words[i].lower() in _INDEFINITE or p.tags[i] == "PRP$" for i in span)


def verbless_sentence(words: Sequence[str], p: Parse, touches: set[int]) -> list[str]:
    """The sentences (word runs between the stops of :data:`_STOPS`) that touch ``touches`` (the stops on both sides
    included: a hole filled with *.* cuts a sentence in two) and hold no verb form: no word tagged as a verb (``VB*``,
    ``MD``) nor read as one (UPOS ``VERB`` / ``AUX``) — module docstring."""
    out, start = [], 0
    for end in [*(k for k, w in enumerate(words) if w in _STOPS), len(words)]:
        span = range(start, end)
        if any(words[k][:1].isalnum() for k in span) and not touches.isdisjoint(range(start - 1, end + 1)) \
                and not any(p.tags[k] in _VERB_TAGS or p.pos[k] in ("VERB", "AUX") for k in span):
            out.append(f"sentence without a verb: {' '.join(words[start:end])!r}")
        start = end + 1
    return out


#: Words of the E2E attributes (foods, venues, areas, family-friendliness, prices, ratings): a phrase of these alone
#: names no place.
ATTRIBUTE_WORDS = NOT_NAME_WORDS | frozenset("price prices range customer high low average cheap moderate "
                                             "expensive -".split())


def bare_subject(words: Sequence[str], p: Parse, touches: set[int]) -> list[str]:
    """Subjects of finite verbs made only of common nouns and adjectives, two words or more, that touch
    ``touches`` (module docstring)."""
    out = []
    for s, dep in enumerate(p.deps):
        if dep not in SUBJECT_DEPS or p.tags[s] not in ("NN", "JJ") or p.tags[p.heads[s]] not in _PRESENT | {"VBD"}:
            continue
        start = p.left_edges[s]
        end = max([s, *(c for c in range(s + 1, len(words)) if p.heads[c] == s
                        and p.deps[c] in ("amod", "compound"))])  # "Family friendly": the adjective after its noun
        span = range(start, end + 1)
        if len(span) >= 2 and all(words[i].lower() in ATTRIBUTE_WORDS for i in span) and not touches.isdisjoint(span):
            out.append(f"a subject of attribute words alone: {' '.join(words[start:end + 1])!r}")
    return out
