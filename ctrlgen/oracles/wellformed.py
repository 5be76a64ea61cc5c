"""Is a filled-in text a well-formed sentence, or a fragment? (the check behind ``Infill``)

``Infill("The Vaults is a [MASK:3] pub near [MASK] .")`` filled as *"The Vaults is a pub pub near the ."* has
every template word in place, yet no reader would call it filled. :func:`fragment_errors` lists such defects
with closed-class word lists only (no model, so the check is fast and its verdicts are stable across
versions):

- a function word left dangling: an article or possessive, a preposition or a form of *be*/*have* right before
  punctuation or at the end (*near the .*, *is a ,*, *pub near .*), a conjunction before the final stop
  (*and .*; *and , yes ,* is fine);
- an article or possessive followed by something that cannot continue a noun phrase (punctuation, another
  article, a preposition, a conjunction or a form of *be*/*have*: *the the*, *a near*, *the is*), or a preposition
  followed by a finite *be*/*have* (*with is*, *near has*; *for being* is fine);
- *a*/*an* against the next word's sound (*a average*, *an pub*) or before a plural noun
  (*a children called*; *a children friendly pub* is fine);
- the same word twice in a row (*pub pub*), or two punctuation marks in a row (*. .*, *, .*), or a text that
  starts with punctuation;
- a capitalised article inside a sentence before a lower-case word (*serves The food*; *near The Mill* is fine);
- a special token in the text (``[UNK]``, ``[MASK]``, ``[PAD]``);
- *out* right before a number: a rating's *out of* without its *of* (*1 out 5*).

The rules catch what the E2E models get wrong in holes; they do not judge meaning (*a pub near Japanese*
is well-formed here: ``SemanticField``'s slot check is the place for that). Measured against hand labels by
``recipes/check_precision.py``; on the valid.csv references it flags 9 of 441 (2.0%: *on the the riverside*,
*Giraffe , ,*, *a average*, *a All Bar One*, *with has*; one false alarm, *a great place to go to .*).
"""

from __future__ import annotations

from collections.abc import Sequence

from ctrlgen.text.tokenizer import split_words

ARTICLES_AND_POSSESSIVES = frozenset("the a an its their his her our your my every each".split())  # never end a phrase
PREPOSITIONS = frozenset("near in on at by of with to for from into onto off over under beside between about "
                         "across along around behind below beneath opposite towards toward within".split())
CONJUNCTIONS = frozenset("and or but nor so yet while whereas because although if".split())
AUXILIARIES = frozenset("is are was were be been being am has have had".split())  # "it does ." is fine
FINITE_AUXILIARIES = frozenset("is are was were am has have had".split())  # never right after a preposition
PUNCTUATION = frozenset(".,;:!?")
PLURALS = frozenset("children kids families people men women".split())  # never after "a"/"an"
#: How the word after a plural may begin when the plural modifies it: "a children friendly pub", "a kids-free".
PLURAL_MODIFIER_ENDS = ("friendly", "-", "free", "orient")
_VOWEL_SOUND_EXCEPTIONS = frozenset("one once unique uni united user usual usually euro european".split())
_SILENT_H = frozenset("hour hours honest honour honor heir".split())
SPECIAL = ("[UNK]", "[MASK]", "[PAD]", "[START]", "[END]")
_DANGLING = ARTICLES_AND_POSSESSIVES | PREPOSITIONS | AUXILIARIES
_NOT_AFTER_DET = ARTICLES_AND_POSSESSIVES | PREPOSITIONS | CONJUNCTIONS | AUXILIARIES | PUNCTUATION


def fragment_errors(text: str | Sequence[str]) -> list[str]:
    """The defects of ``text`` (a string, split with :func:`~ctrlgen.text.split_words`, or its words), each as a
    short phrase (``"dangling 'the' before '.'"``); empty for a well-formed text."""
    words = split_words(text) if isinstance(text, str) else list(text)
    joined = text if isinstance(text, str) else " ".join(words)
    errors = [f"special token {s}" for s in SPECIAL if s in joined]
    low = [w.lower() for w in words]
    if not low:
        return ["empty text"]
    if low[0] in PUNCTUATION:
        errors.append(f"starts with {words[0]!r}")
    for k, w in enumerate(low):
        nxt = low[k + 1] if k + 1 < len(low) else None
        if (w in _DANGLING and (nxt is None or nxt in PUNCTUATION)) or (w in CONJUNCTIONS and nxt in (None, ".")):
            errors.append(f"dangling {words[k]!r} " + (f"before {words[k + 1]!r}" if nxt else "at the end"))
        elif (w in ARTICLES_AND_POSSESSIVES and nxt in _NOT_AFTER_DET) or \
                (w in PREPOSITIONS and nxt in FINITE_AUXILIARIES):
            errors.append(f"{words[k]!r} followed by {words[k + 1]!r}")
        if nxt is not None and w in ("a", "an") and nxt[:1].isalpha():
            vowel = (nxt[0] in "aeiou" and nxt not in _VOWEL_SOUND_EXCEPTIONS) or nxt in _SILENT_H
            after = low[k + 2] if k + 2 < len(low) else ""
            if nxt in PLURALS and not after.startswith(PLURAL_MODIFIER_ENDS):
                errors.append(f"{words[k]!r} before the plural {words[k + 1]!r}")
            elif vowel != (w == "an"):
                errors.append(f"{words[k]!r} before {words[k + 1]!r}")
        if k > 0 and words[k] in ("The", "A", "An") and low[k - 1] not in PUNCTUATION and nxt is not None \
                and words[k + 1][:1].islower():
            errors.append(f"capitalised {words[k]!r} inside a sentence before {words[k + 1]!r}")
        if w == "out" and nxt is not None and nxt[:1].isdigit():
            errors.append(f"'out' before the number {words[k + 1]!r} (out of)")
        if nxt is not None and nxt == w:
            errors.append(f"{words[k]!r} twice in a row")
        elif nxt is not None and w in PUNCTUATION and nxt in PUNCTUATION:
            errors.append(f"{words[k]!r} then {words[k + 1]!r}")
    return errors


def well_formed(text: str | Sequence[str]) -> bool:
    """Whether :func:`fragment_errors` finds nothing."""
    return not fragment_errors(text)
