"""Which names a text gives the place it describes — for the ``name`` slot of :mod:`ctrlgen.oracles.slots`.

``name = v`` is said only where the text gives its place no other name: *The Mill … It is called Giraffe*, *The Mill
The Plough is a pub*, *Giraffe is a pub … a kids friendly Blue Spice* name someone else. Words are those of
:func:`ctrlgen.oracles.slots.normalise` (``words``) with their original case (``original``, same length).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from ctrlgen.oracles.slot_patterns import NEAR_CUES

NAMING_CUES = ("called", "named")
#: Words of field values, never part of a name: *The Chinese coffee shop*, *The Mill Pub* name nobody new.
NOT_NAME_WORDS = frozenset("chinese english british fast food french italian japanese indian riverside city centre "
                           "center coffee shop pub restaurant café cafe family friendly kids kid children rating "
                           "ratings".split())
#: A clause that opens with capitalised words and one of these verbs names its subject: "Giraffe is a pub".
_SUBJECT_VERBS = frozenset("is was has serves offers provides".split())
#: Capitalised openers that are no name ("It is", "Price is", "Located near ..."); landmarks are left out too.
_NOT_SUBJECTS = frozenset("it it's this that there their they he she we you i its which what here everyone everybody "
                          "nobody a an also but although and so by located near close next situated named called "
                          "price prices pricing range cost costs customers customer rating ratings food families "
                          "children kids adults".split())
#: Words before a place rather than a name: "in The Portland Arms area", "east of The Sorrento".
_PLACE_WORDS = frozenset((*NEAR_CUES, *"in of on into inside outside past passing side besides within close next "
                                         "east west north south part for the".split()))
#: Capitalised words that end a name ("named The Cricketers That serves …", "The Vaults Is a pub").
_RUN_ENDS = _NOT_SUBJECTS | _SUBJECT_VERBS | frozenset("in on with where who for located".split())


def _near_the_place(words: list[str], original: Sequence[str], k: int) -> bool:
    """Whether the words from ``k`` (right after the subject's verb) place the subject near the described place, so
    the subject is a landmark: ``Burger King is near the pub …``, ``… is close to a competitor …``, ``… has a pub
    nearby`` — but not ``Giraffe is located near the river`` nor ``… near Café Rouge``."""
    if "nearby" in words[k:k + 6]:
        return True
    while k < len(words) and words[k] in ("located", "situated", "just", "right", "also", "found"):
        k += 1
    if k >= len(words) or words[k] not in ("near", "close", "next", "beside", "by"):
        return False
    j = k + 1
    while j < len(words) and words[j] in ("to", "the", "a", "an"):
        j += 1
    return j < len(words) and not original[j][:1].isupper() and words[j] not in _AREA_WORDS


#: Lower-case places that a real name may be near: "Giraffe is near the river".
_AREA_WORDS = frozenset("river riverside city centre center town".split())


def _subject(words: list[str], original: Sequence[str], i: int, places: list[list[str]],
             starts: bool) -> set[str] | None:
    """The name a clause's subject gets at ``i``, or ``None``: capitalised words and a verb of :data:`_SUBJECT_VERBS`
    at a sentence's start (``Giraffe is …``) or after a lower-case word that is no place word, article or *and*
    (``A restaurant Cotto is …``), unless they are one of the text's landmarks or placed near the described place
    (:func:`_near_the_place`)."""
    if words[i] == "the" or words[i] in _NOT_SUBJECTS or not original[i][:1].isupper():
        return None
    if not starts and (original[i - 1][:1].isupper() or words[i - 1] in _PLACE_WORDS
                       or words[i - 1] in (*NAMING_CUES, "and", "or", "a", "an")):  # "near the river and X is"
        return None
    k = i
    while k < len(words) and k - i < 4 and original[k][:1].isupper() and words[k] not in _RUN_ENDS:
        k += 1
    if k == i or k == len(words) or words[k] not in _SUBJECT_VERBS or words[i:k] in places \
            or _near_the_place(words, original, k + 1):
        return None
    i = max((m for m in range(i, k) if original[m] == "The"), default=i)  # "Wow The Punter is": the name is The …
    return set(words[i:k]) - {"the"} - NOT_NAME_WORDS


def _opens_name(words: list[str], original: Sequence[str], i: int, starts: bool) -> bool:
    """Whether a *The* at ``i`` opens a name: at a sentence's start, or a capitalised *The* after any word that does
    not lead to a place (:data:`_PLACE_WORDS`): ``… is The Vaults``, ``Giraffe The Cricketers``, but not ``near The
    Portland Arms``, ``east of The Sorrento``."""
    if words[i] != "the":
        return False
    if starts:
        return True
    return original[i] == "The" and words[i - 1] not in _PLACE_WORDS


def introduced_names(words: list[str], original: Sequence[str], landmarks: list[tuple[int, int]]) -> list[set[str]]:
    """Names the text gives its subject, as sets of lower-case words without *the* and :data:`NOT_NAME_WORDS`:

    - the capitalised words after *called* / *named* (``called The Mill``);
    - a run of capitalised words that *The* opens (:func:`_opens_name`: ``The Phoenix , …``, ``… is The Vaults``);
    - a clause's subject before a verb of :data:`_SUBJECT_VERBS` (:func:`_subject`: ``Giraffe is …``), unless it
      is one of the text's ``landmarks`` (word spans after a proximity cue) or placed near the place (``Burger King
      is near the pub``);

    a capitalised *The* inside a run starts a second name (``The Mill The Plough``), and capitalised function words
    end it (:data:`_RUN_ENDS`). ``name = v`` fails when one of them holds a word that ``v`` has not."""
    names = []
    places = [words[a:b] for a, b in landmarks]
    for i, w in enumerate(words):
        starts = i == 0 or words[i - 1] in (".", "!", "?")
        subject = _subject(words, original, i, places, starts)
        if subject is not None:
            names.append(subject)
        if not (w in NAMING_CUES or _opens_name(words, original, i, starts)):
            continue
        j = i + 1 if w in NAMING_CUES else i
        k = j + (j < len(words) and words[j] == "the" and w in NAMING_CUES)
        while k < len(words) and k - j < 5 and original[k][:1].isupper() and (k == j or words[k] not in _RUN_ENDS):
            k += 1
        if k > j + (words[j] == "the" if j < len(words) else 0):
            cuts = [j, *(m for m in range(j + 1, k) if original[m] == "The"), k]  # "The Mill The Plough": two names
            names.extend(set(words[a:b]) - {"the"} - NOT_NAME_WORDS for a, b in pairwise(cuts))
    return names


def glued_to_a_name(words: list[str], original: Sequence[str], k: int, n: int, landmarks: list[tuple[int, int]]
                    ) -> bool:
    """Whether the name at words ``k … k+n-1`` runs into another capitalised word that no rule explains — not an
    article, a field's word, a word that ends names (:data:`_RUN_ENDS`), nor a sentence's first word: ``a pub Blue
    Spice Cotto`` does not name the pub Cotto, nor ``near Café Rouge Alimentum`` the place Alimentum. A landmark
    right before a name that opens with *The* is a boundary when the name goes on into its clause (``near Café Rouge
    The Mill is …``), not when it ends the sentence (``… near Raja Indian Cuisine The Eagle .``: nothing is said of
    it, so it is read as run into the landmark)."""
    inside = {i for a, b in landmarks for i in range(a, b)}
    ends = k + n >= len(words) or words[k + n] in (".", "!", "?")
    left = _other_name(words, original, k - 1) and not (k - 1 in inside and words[k] == "the" and not ends)
    return left or (_other_name(words, original, k + n) and k + n not in inside)


def _other_name(words: list[str], original: Sequence[str], i: int) -> bool:
    """Whether word ``i`` is a capitalised word that no rule explains, so part of some name: not an article, a field's
    word, a word that ends names (:data:`_RUN_ENDS`), nor a sentence's first word."""
    return 0 <= i < len(words) and original[i][:1].isupper() and original[i] not in ("A", "An", "The") \
        and words[i] not in NOT_NAME_WORDS and words[i] not in _RUN_ENDS \
        and not (i == 0 or words[i - 1] in (".", "!", "?"))


def landmark_runs_on(words: list[str], original: Sequence[str], k: int, n: int) -> bool:
    """Whether the landmark at words ``k … k+n-1`` runs into a capitalised word that makes another name
    (:func:`_other_name`): ``near Clare Hall Cuisine`` is not near Clare Hall, as ``near Raja Indian Cuisine`` is not
    near Raja. A field's word (``near Clare Hall Riverside``, ``near Ranch Indian``), *The* (``near Burger King The
    Eagle is …``) or punctuation ends the landmark."""
    return _other_name(words, original, k + n)


#: Prepositions that make what follows them a location: "offers French food in the Loch Fyne".
_IN_WORDS = frozenset(("in", "inside", "within"))
#: ... and those that do so when the name ends its sentence right after an area: "… around city centre Cocum .".
_PLACE_PREPOSITIONS = frozenset((*NEAR_CUES, *_IN_WORDS, "on", "along", "around", "across", "outside"))


def in_a_place_phrase(words: list[str], original: Sequence[str], k: int, n: int = 1) -> bool:
    """Whether the name at words ``k … k+n-1`` follows a place preposition and a lower-case *the* or area words that
    are no part of it, in mid-sentence: a location, not the place described. After *in* / *inside* / *within*
    anywhere (``Wildwood … offers French food in the Loch Fyne``, ``in the riverside Alimentum``); after any place
    preposition and an area word when the name ends its sentence (``… near Raja Indian Cuisine around city centre
    Cocum .``: nothing is said of it, as of a name right after a landmark, :func:`glued_to_a_name`). Left alone: the
    name right after the preposition (``Price is moderate in Blue Spice``: the place itself), and a place phrase that
    opens its sentence (``In the Loch Fyne you can …``, ``In the city centre Cocum .``)."""
    i = k - 1
    while i >= 0 and (words[i] in _AREA_WORDS or words[i] == "area" or (words[i] == "the" and original[i] == "the")):
        i -= 1
    if not (1 <= i < k - 1 and words[i - 1] not in (".", "!", "?", ",", ";")):
        return False
    ends = k + n >= len(words) or words[k + n] in (".", "!", "?")
    return words[i] in _IN_WORDS or (ends and words[i] in _PLACE_PREPOSITIONS
                                     and any(w in _AREA_WORDS for w in words[i + 1:k]))


#: Verbs after which a sentence's bare *The* is a subject with its name left out: "The is a pub", "The serves …".
_BARE_SUBJECT_VERBS = frozenset((*_SUBJECT_VERBS, "are", "offers", "provides", "sells"))


def after_a_bare_the(words: list[str], k: int) -> bool:
    """Whether the name at word ``k`` stands later in a sentence whose subject is a bare *The* (the sentence opens
    *The is* / *The serves* …): that sentence's place has no name, so a name further in is part of what is said of
    it (*The is a kids-friendly The Cambridge Blue coffee shop*), not the place's name."""
    start = k
    while start > 0 and words[start - 1] not in (".", "!", "?"):
        start -= 1
    return start < k and start + 1 < len(words) and words[start] == "the" \
        and words[start + 1] in _BARE_SUBJECT_VERBS
