"""Phrases with no head and clauses with no main verb: the grammar half of ``Infill``'s check.

The closed-class rules of :mod:`ctrlgen.oracles.wellformed` see one word and its neighbour, and the word pairs of
:mod:`ctrlgen.oracles.word_pairs` see two; neither sees a phrase. The fills they let through are phrases that
stop too early — every word pair occurs in good text, the whole does not parse:

- a **noun phrase with no noun**: an article whose phrase ends on an adjective (*is a family friendly that
  serves*, *there is a kid friendly called*, *is a friendly and is located*) — every noun-phrase word after the
  article is a modifier (adjectives, nouns, numbers, participles, adverbs, commas and conjunctions between
  them), and the phrase needs a noun — not one that modifies a word after it, as *family* in *family friendly*
  (spaCy's ``npadvmod``) — with no adjective after it (*a family friendly pub*, *a pub close to*, *the less than
  £20 range*, *a bit expensive* are fine);
  — or whose article ends, through its modifiers, on a particle (*has a 3 out and serves*; *a 3 out of 5* is fine);
- a **sentence with no main verb**: its finite verbs all sit in a dependent clause (a relative, a complement or
  a participle's clause: *The Phoenix that is located near …*, *A restaurant The Phoenix is located …*, *Highly
  rated The Phoenix is located …*): the sentence's root is no finite verb nor imperative, and has no subject
  (one with a subject is a clause the parser misread); a past form counts as finite only with a subject of its
  own, as taggers read *a pub called X* as a past tense;
- **two finite verbs with nothing to join them**: a main-clause *be*/*have* whose complement runs into a second
  finite verb (*Alimentum is a restaurant is located*, *there is a pub called X is near*), with no conjunction,
  punctuation, relative or subordinating word between; not when the *be*/*have* is itself in a subordinate
  clause (*the pub that is called X is near*), nor when the second verb's subject follows a noun (a relative
  clause without *that*: *the type of place people bring kids*);
- a **comma between a subject and its verb** (*The House , is located*; *If you want X , Zizzi , is near …*),
  unless the verb is a past form (*Zizzi , sited by the river , is …*: a past participle, not a finite verb).

Three more rules read the same parse for what is missing around a verb (:mod:`ctrlgen.oracles.clauses`): a finite
verb of the main clause with no subject (*Near the river , near Clare Hall , has …*), a sentence with no verb at all
(*Cotto in the city centre near the river .*), and an adjective predicate
coordinated with a bare noun phrase (*is cheap and Chinese food*, *is cheap and The Sorrento*); three more
(:mod:`ctrlgen.oracles.complements`) for a word whose complement is of the wrong kind: *a* before a plural noun
(*with a low prices*), *located* with no place phrase (*is located the Riverside*, *is located to X*), and a verbless
conjunct after a finite verb (*has a coffee shop and on the riverside*). A noun phrase ends
at a conjunction whose conjunct hangs outside it (*is in the city centre and family - friendly*: *friendly* is the
verb's, so *the city centre* has its noun).

One more rule, a count noun with no determiner (*You can find English coffee shop*), needs to know which nouns
count, a fact of the domain's words: it lives in :mod:`ctrlgen.oracles.count_nouns`, with its own table.

Only phrases that touch a free position (a hole) count, so a template's own words are never held against a fill.
The rules read part-of-speech tags and a dependency parse from spaCy's small English pipeline (the one of
:mod:`ctrlgen.oracles.pos`, with its parser; deterministic on CPU) over exactly the given words; parses are
memoised per sentence (:mod:`ctrlgen.oracles.memo`). They are English grammar, not a table of one corpus, so they
carry to other domains; ``Infill(template, grammar=False)`` turns them off (another language, no parser).
Measured by ``recipes/check_precision.py`` (precision of ``Infill``'s ``satisfied`` against hand labels) and
``recipes/phrase_check_refs.py`` (false alarms on E2E ``valid.csv`` references, and the cost per text). Two
known names run together (*Midsummer House Blue Spice*) are the word-pair table's business
(:mod:`ctrlgen.oracles.name_runs`): the parse reads them as one name.

    >>> phrase_errors("The Eagle is a family friendly that serves food .".split(), free=[5, 6])  # doctest: +SKIP
    ["noun phrase without a noun: 'a family friendly' before 'that'"]
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from ctrlgen.errors import ConfigError
from ctrlgen.oracles.clauses import bare_subject, no_subject, unlike_predicate, verbless_sentence
from ctrlgen.oracles.complements import bare_location, plural_after_indefinite, verbless_conjunct
from ctrlgen.oracles.memo import LabelMemo
from ctrlgen.oracles.parse_labels import SUBJECT_DEPS as _SUBJECT_DEPS
from ctrlgen.oracles.parse_labels import Parse
from ctrlgen.oracles.parse_labels import children as _children
from ctrlgen.oracles.pos import POSModelNotFoundError, load_spacy_pipeline

if TYPE_CHECKING:
    from types import ModuleType

    from spacy.language import Language

#: PTB tags that may stand inside a noun phrase between its article and its end (modifiers and the head).
PHRASE_TAGS = frozenset("JJ JJR JJS NN NNS NNP NNPS CD HYPH AFX VBN VBG RB RBR RBS POS $ , CC".split())
NOUN_TAGS = frozenset("NN NNS NNP NNPS CD PRP".split())  # what may head a noun phrase (a number: "a 5")
ADJECTIVE_TAGS = frozenset("JJ JJR JJS".split())
FINITE_TAGS = frozenset("VBZ VBD VBP MD".split())
ARTICLES = frozenset(("a", "an", "the"))
_EDGE_TAGS = frozenset((",", "CC", "HYPH"))  # never end a phrase: they join it to what follows
_COMPLEMENT_PREPOSITIONS = frozenset(("to", "for", "from", "of"))  # close to, suitable for; not *friendly with*
#: A participle with one of these labels heads a clause (*a pub called X*), so it ends the noun phrase before it;
#: with another label it is a modifier inside the phrase (*a highly rated pub*, *a cheap and well rated pub*).
CLAUSE_DEPS = frozenset(("acl", "relcl", "ccomp", "advcl", "xcomp", "acomp", "ROOT"))
_DEGREE_NOUNS = frozenset(("bit", "lot"))  # "a bit expensive": a measure of the adjective, not its noun
_PRESENT_VERB_TAGS = frozenset(("VBZ", "VBP", "MD"))  # a past form after a comma is mostly a participle
_MAIN_VERB_TAGS = frozenset("VB VBD VBZ VBP MD".split())  # a root verb; VB: an imperative (*try X*)
_DEPENDENT_CLAUSES = frozenset(("relcl", "ccomp", "acl", "csubj"))  # not conj/advcl: those may stand beside a main one
_MODIFIER_DEPS = frozenset(("nummod", "amod", "compound", "quantmod"))
_BE_HAVE = frozenset("is are was were am has have had".split())  # take a phrase, never a bare clause
_SUBORDINATORS = frozenset("that which who whom whose where when while because although if as than so".split())
#: Conjunctions that open an adverbial clause, one that cannot stand as a sentence alone.
_ADVERBIAL_SUBORDINATORS = frozenset("although though while whilst because since if unless whereas when once".split())


def _spacy() -> ModuleType:
    import spacy.tokens  # lazy: start-up speed

    return spacy


@functools.lru_cache(maxsize=2)
def load_parse_pipeline(model: str | None = None) -> Language:
    """The POS oracle's spaCy pipeline with its dependency parser (NER and lemmatizer left out), loaded once."""
    nlp = load_spacy_pipeline(model, ["ner", "lemmatizer"], "the phrase rules' dependency parse")
    found = nlp.meta.get("name")
    if "parser" not in nlp.pipe_names:
        raise POSModelNotFoundError(f"spaCy pipeline {found!r} has no dependency parser ({nlp.pipe_names})",
                                    hint="install en_core_web_sm, or pass Infill(..., grammar=False)")
    return nlp


_MEMO: LabelMemo[tuple[str, ...], Parse] = LabelMemo()


def parse_words(sentences: Sequence[Sequence[str]]) -> list[Parse]:
    """The :class:`Parse` of each word list (exactly those words; memoised, missing ones parsed in one batch)."""
    if isinstance(sentences, str) or any(isinstance(s, str) for s in sentences):
        raise ConfigError("sentences must be a list of word lists", hint="pass [['The', 'pub', '.']]")

    def compute(missing: list[tuple[str, ...]]) -> list[Parse]:
        nlp, doc_type = load_parse_pipeline(), _spacy().tokens.Doc
        out = []
        for doc in nlp.pipe(doc_type(nlp.vocab, words=list(w)) for w in missing):
            sent_of = {t.i: k for k, s in enumerate(doc.sents) for t in s}
            out.append(Parse(tuple(t.tag_ for t in doc), tuple(t.pos_ for t in doc), tuple(t.dep_ for t in doc),
                             tuple(t.head.i for t in doc), tuple(t.left_edge.i for t in doc),
                             tuple(sent_of[t.i] for t in doc)))
        return out

    return _MEMO.get_many([tuple(map(str, s)) for s in sentences], compute)


def _dangling(tags: Sequence[str], low: Sequence[str], k: int, *, head: bool) -> bool:
    """Whether word ``k`` of a noun phrase modifies nothing. After the phrase's head: an adjective with no complement
    (*a family friendly that*; *a pub close to*, *less than* have one). With no head before it: anything but a
    comparative before *than* (*the less than £20 range*): *a family friendly with …* has no noun to modify.
    Complements are *to*, *for*, *from*, *of*: *with* and places are a noun's (*a kid friendly with a rating*)."""
    than = k + 1 < len(low) and low[k + 1] == "than"
    if not head:
        return not (than and tags[k] in ("JJR", "RBR"))
    complement = k + 1 < len(tags) and (tags[k + 1] == "TO" or low[k + 1] in _COMPLEMENT_PREPOSITIONS)
    return tags[k] in ADJECTIVE_TAGS | {"RBR"} and not (than or complement)


def _headless(words: Sequence[str], p: Parse, touches: set[int]) -> list[str]:
    low, n, out = [w.lower() for w in words], len(words), []
    for i in range(n):
        if low[i] not in ARTICLES or p.tags[i] != "DT":
            continue
        j = i + 1
        while j < n and p.tags[j] in PHRASE_TAGS and not (p.tags[j] in ("VBN", "VBG") and p.deps[j] in CLAUSE_DEPS):
            j += 1
        j = _first_conjunct_end(p, i, j)
        while j > i + 1 and p.tags[j - 1] in _EDGE_TAGS:
            j -= 1
        if j == i + 1 or touches.isdisjoint(range(i, j + 1)):  # a bare article is wellformed's business
            continue
        if any(low[k] in _DEGREE_NOUNS for k in range(i + 1, j)):
            continue
        h = p.heads[i]  # the parse finds the article's noun a word or two on: the phrase stopped at a mis-tag
        if j <= h <= j + 2 and p.tags[h] in NOUN_TAGS and p.left_edges[h] <= i:  # (*a cheap , not kid/VB friendly pub*)
            continue
        # a noun that modifies a word after it (*family* in *a family friendly*) is no head
        nouns = [k for k in range(i + 1, j) if p.tags[k] in NOUN_TAGS
                 and not (p.deps[k] == "npadvmod" and k < p.heads[k] < j)]
        tail = range(nouns[-1] + 1, j) if nouns else [j - 1]  # what follows the head; no head: the last word
        if any(_dangling(p.tags, low, k, head=bool(nouns)) for k in tail) or _particle_head(p, i):
            after = repr(words[j]) if j < n else "the end"
            out.append(f"noun phrase without a noun: {' '.join(words[i:j])!r} before {after}")
    return out


def _first_conjunct_end(p: Parse, i: int, j: int) -> int:
    """Where the noun phrase ``[i, j)`` really ends: at a conjunction or comma after a noun when what follows it
    hangs outside the phrase — a predicate of its own (*is in the city centre and family - friendly*: *friendly*
    is the verb's), not a second modifier or noun of the phrase (*a cheap and family friendly pub*)."""
    for m in range(i + 2, j):
        if p.tags[m] not in ("CC", ",") or m + 1 >= j or not any(  # a head noun first, not "a kids friendly ,"
                p.tags[k] in NOUN_TAGS and not k < p.heads[k] < j for k in range(i + 1, m)):
            continue
        h, steps = m + 1, 0
        while m < p.heads[h] < j and p.heads[h] != h and steps < 16:
            h, steps = p.heads[h], steps + 1
        if not i <= p.heads[h] < j:
            return m
    return j


def _particle_head(p: Parse, i: int) -> bool:
    """Whether the article at ``i`` ends, through its modifiers, on a particle or preposition with no object:
    *a 3 out and* (*a 3 out of 5* has one, *out* then modifies the number)."""
    h = p.heads[i]
    while p.deps[h] in _MODIFIER_DEPS and p.heads[h] != h:
        h = p.heads[h]
    return p.tags[h] in ("RP", "IN", "TO") and not _children(p, h, ("pobj",))


def _finite_verb(p: Parse, k: int) -> bool:
    """Whether word ``k`` is a finite verb: present or modal, or a past form with a subject of its own (a past
    form without one is mostly a participle the tagger took for a past tense: *a pub called X*)."""
    return p.tags[k] in _PRESENT_VERB_TAGS or (p.tags[k] == "VBD" and bool(_children(p, k, _SUBJECT_DEPS)))


def _clause_head(p: Parse, k: int) -> int:
    """The verb a finite word's clause hangs from: itself, or the verb it is an auxiliary of."""
    return p.heads[k] if p.deps[k] in ("aux", "auxpass") else k


def _no_main_verb(words: Sequence[str], p: Parse, touches: set[int]) -> list[str]:
    out = []
    for s in sorted(set(p.sents)):
        idx = [k for k, sk in enumerate(p.sents) if sk == s]
        if touches.isdisjoint(idx):
            continue
        root = next((k for k in idx if p.deps[k] == "ROOT"), idx[0])
        finite = {_clause_head(p, k) for k in idx if _finite_verb(p, k)}
        if root in finite and _marked(words, p, root):
            out.append(f"sentence without a main clause: only the clause of {words[root]!r}, opened by a "
                       f"subordinating conjunction")
        elif root not in finite and p.tags[root] not in _MAIN_VERB_TAGS and not _children(p, root, _SUBJECT_DEPS) \
                and any(p.deps[h] in _DEPENDENT_CLAUSES or (p.deps[h] == "advcl" and _marked(words, p, h))
                        for h in finite):  # a root with a subject: a misparse
            out.append(f"sentence without a main verb: its finite verb is in a dependent clause "
                       f"(root {words[root]!r})")
    return out


def _marked(words: Sequence[str], p: Parse, v: int) -> bool:
    """Whether the clause of verb ``v`` is opened by an adverbial subordinating conjunction (*although it is …*,
    *while it is …*): such a clause needs a main clause beside it (*…, The Cambridge Blue is …*), so a sentence
    whose root it is — or whose only finite verb it holds, under a verbless root — has none."""
    return any(words[c].lower() in _ADVERBIAL_SUBORDINATORS for c in _children(p, v, ("mark",)))


def _run_on(words: Sequence[str], p: Parse, touches: set[int]) -> list[str]:
    """A main-clause *be*/*have* whose complement runs into a second finite verb with nothing to join them
    (*X is a restaurant is located*, *X is a pub is near*). Not in a subordinate clause (*the pub that is called
    X is near*), nor across a conjunction, punctuation, a relative or subordinating word, nor where the second
    verb's subject follows a noun (a relative clause without *that*: *the type of place people bring kids*)."""
    low, out, start = [w.lower() for w in words], [], 0
    for k in range(len(words)):
        if k > 0 and p.sents[k] != p.sents[k - 1]:
            start = k
        if _boundary(low, p, k):
            start = k if _subordinator(low, p, k) else k + 1
        if low[k] not in _BE_HAVE or not _finite_verb(p, k) \
                or any(_subordinator(low, p, m) for m in range(start, k)):
            continue
        j = k + 1
        while j < len(words) and p.sents[j] == p.sents[k] and not _boundary(low, p, j) \
                and not (_finite_verb(p, j) and words[j][:1].islower()):
            j += 1
        if j == k + 1 or j == len(words) or p.sents[j] != p.sents[k] or _boundary(low, p, j) \
                or touches.isdisjoint(range(k, j + 1)):
            continue
        subjects = _children(p, _clause_head(p, j), _SUBJECT_DEPS)
        if not any(p.tags[p.left_edges[c] - 1] in NOUN_TAGS for c in subjects if k < p.left_edges[c] - 1 < j):
            out.append(f"two finite verbs with nothing to join them: {words[k]!r} … {words[j]!r}")
    return out


def _subordinator(low: Sequence[str], p: Parse, k: int) -> bool:
    return p.tags[k] in ("WDT", "WP", "WP$", "WRB") or low[k] in _SUBORDINATORS or p.deps[k] == "mark"


def _boundary(low: Sequence[str], p: Parse, k: int) -> bool:
    return p.tags[k] in ("CC", ",", ":", ".", "-LRB-", "-RRB-") or _subordinator(low, p, k)


def _comma_before_verb(words: Sequence[str], p: Parse, touches: set[int]) -> list[str]:
    out = []
    for i in range(1, len(words) - 1):
        s, v = i - 1, i + 1
        if words[i] != "," or p.deps[s] not in ("nsubj", "nsubjpass") or p.tags[v] not in _PRESENT_VERB_TAGS:
            continue
        verb_of_subject = v == p.heads[s] or (p.heads[v] == p.heads[s] and p.deps[v] in ("aux", "auxpass"))
        if verb_of_subject and not touches.isdisjoint((s, i, v)):
            out.append(f"comma between the subject {words[s]!r} and its verb {words[v]!r}")
    return out


def phrase_errors_many(sentences: Sequence[Sequence[str]], free: Collection[int] | None = None) -> list[list[str]]:
    """:func:`phrase_errors` of each word list, all parsed in one batch; ``free`` is shared by all."""
    out = []
    for words, p in zip(sentences, parse_words(sentences), strict=True):
        touches = set(range(len(words))) if free is None else {k - 1 for k in free}
        out.append(_headless(words, p, touches) + _no_main_verb(words, p, touches) + _run_on(words, p, touches)
                   + _comma_before_verb(words, p, touches) + no_subject(words, p, touches)
                   + unlike_predicate(words, p, touches) + plural_after_indefinite(words, p, touches)
                   + bare_location(words, p, touches) + verbless_conjunct(words, p, touches)
                   + verbless_sentence(words, p, touches) + bare_subject(words, p, touches))
    return out


def phrase_errors(words: Sequence[str], free: Collection[int] | None = None) -> list[str]:
    """The headless noun phrases, verbless sentences, run-on verbs and subject–verb commas of ``words`` (module
    docstring) that touch a free position — 1-based word positions as in
    :meth:`~ctrlgen.oracles.word_pairs.WordPairs.unseen`; ``None``: every word is free — each as a short phrase;
    empty when there are none."""
    if isinstance(words, str):
        raise ConfigError("phrase_errors takes a list of words", hint="pass split_words(text)")
    return phrase_errors_many([words], free)[0]
