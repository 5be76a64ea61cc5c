"""``Infill``'s check face: a filled-in template that a reader would call filled, said only when confident.

The words of the template in place (``Infill.score``) are not enough: *The Vaults is a pub pub near the .* has them
all. :class:`FillCheck` asks, in order, from the cheapest:

1. the closed-class rules of :mod:`ctrlgen.oracles.wellformed` (*near the .*, *a English*, *1 out 5*);
2. every word pair and word triple touching a hole attested in the training text (:mod:`ctrlgen.oracles.word_pairs`;
   new words and names are never held against a fill; a verb and the start of its object, or a name's end, that
   the parse calls grammatical are excused: :func:`~ctrlgen.oracles.complements.object_starts`,
   :func:`~ctrlgen.oracles.name_runs.name_ends`; two known names run together are not);
3. the parse rules of :mod:`ctrlgen.oracles.phrases` and the count-noun table (``grammar``, ``count_nouns``);
4. the learned replaced-token gate (``detector``): no word of a hole, or right next to one, with
   ``p_replaced >= RTD_TAU`` under :mod:`ctrlgen.oracles.replaced_tokens`.

It is strict by design — precision first: on the twelfth hand-labelled set, scored once and never tuned on, it
has precision 0.990 at recall 0.555 (README, "What `satisfied` means"). Each stage can be switched off on the
constraint (``pairs=None``, ``grammar=False``, ``count_nouns=None``, ``detector=None``) or given your own table or
detector for another domain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ctrlgen.constraints.base import ConstraintError, as_texts
from ctrlgen.oracles.complements import object_starts
from ctrlgen.oracles.count_nouns import BUNDLED_NOUNS, CountNouns, bundled_count_nouns
from ctrlgen.oracles.name_runs import name_ends, run_on_names
from ctrlgen.oracles.phrases import parse_words, phrase_errors_many
from ctrlgen.oracles.replaced_tokens import BUNDLED_RTD, ReplacedTokenDetector, bundled_detector
from ctrlgen.oracles.wellformed import well_formed
from ctrlgen.oracles.word_pairs import BUNDLED, WordPairs, bundled_pairs
from ctrlgen.text.tokenizer import split_words

#: The learned gate: a fill passes only when no word of a hole or next to one scores ``p_replaced >= RTD_TAU`` under
#: the replaced-token detector. 0.25 maximised (good kept − bad kept) on the first seven hand-labelled sets.
RTD_TAU = 0.25


class FillCheck:
    """The check face of a template with holes (mixed into :class:`~ctrlgen.constraints.infill.Infill`, which
    provides ``score`` and ``_free``, the 1-based word positions of its holes, and the options below)."""

    pairs: WordPairs | str | None
    grammar: bool
    count_nouns: CountNouns | str | None
    detector: ReplacedTokenDetector | str | None

    if TYPE_CHECKING:  # provided by the class it is mixed into (never defined here: it comes first in the MRO)
        def score(self, texts: Sequence[str]) -> list[float]: ...

        def _free(self) -> list[int]: ...

    def _check_tables(self) -> None:
        """Typed errors for options that are neither a table (detector), the bundled one's name, nor ``None``."""
        nouns = self.count_nouns
        if not (nouns is None or nouns == BUNDLED_NOUNS or isinstance(nouns, CountNouns)):
            raise ConstraintError(f"Infill count_nouns must be a CountNouns table, {BUNDLED_NOUNS!r} or None, "
                                  f"got {self.count_nouns!r}", "build one with CountNouns.from_texts(texts)")
        if not (self.detector is None or self.detector == BUNDLED_RTD or isinstance(self.detector, ReplacedTokenDetector)):
            raise ConstraintError(f"Infill detector must be a ReplacedTokenDetector, {BUNDLED_RTD!r} or None, got "
                                  f"{self.detector!r}", "train one with recipes/train_rtd.py, or pass None")

    def judge(self, texts: Sequence[str]) -> tuple[list[bool], list[float]]:
        texts = as_texts(texts)
        scores = self.score(texts)
        table, free = self._table(), self._free()
        if self.grammar and table is not None:  # parse in one batch the texts whose unseen pairs it may excuse
            parse_words([w for s, t in zip(scores, texts, strict=True) if s == 1.0 and well_formed(t)
                         for w in [split_words(t)] if table.unseen(w, free) or table.unseen_triples(w, free)])
        ok = [s == 1.0 and well_formed(t) and not self.unseen_pairs(t) and not self.unseen_triples(t)
              for s, t in zip(scores, texts, strict=True)]
        if self.grammar:  # parse only what passed the cheap checks, in one batch
            todo = [k for k, good in enumerate(ok) if good]
            for k, errors in zip(todo, self.phrase_errors([texts[k] for k in todo]), strict=True):
                ok[k] = not errors
        if self.detector is not None:  # the learned gate, last: only on what the rules accept
            det = bundled_detector() if self.detector == BUNDLED_RTD else self.detector
            todo, near = [k for k, good in enumerate(ok) if good], self._near_holes()
            for k, p in zip(todo, det.p_replaced([texts[k] for k in todo]), strict=True):  # type: ignore[union-attr]
                ok[k] = max((p[i] for i in near if i < len(p)), default=0.0) < RTD_TAU
        return ok, scores

    def phrase_errors(self, texts: Sequence[str]) -> list[list[str]]:
        """Per text, the phrases touching a hole that do not parse (:mod:`ctrlgen.oracles.phrases`)."""
        free, sentences = self._free(), [split_words(t) for t in as_texts(texts)]
        errors = phrase_errors_many(sentences, free)
        nouns = bundled_count_nouns() if self.count_nouns == BUNDLED_NOUNS else self.count_nouns
        if isinstance(nouns, CountNouns):
            touches = {k - 1 for k in free}
            for e, w, p in zip(errors, sentences, parse_words(sentences), strict=True):
                e.extend(nouns.errors(w, p, touches))
        return errors

    def _table(self) -> WordPairs | None:
        table = bundled_pairs() if self.pairs == BUNDLED else self.pairs
        if not (table is None or isinstance(table, WordPairs)):
            raise ConstraintError(f"Infill pairs must be a WordPairs table, {BUNDLED!r} or None, got {table!r}",
                                  "build one with ctrlgen.oracles.word_pairs.WordPairs.from_texts(texts)")
        return table

    def _near_holes(self) -> list[int]:
        """Word indices (0-based, of ``split_words``) of the holes and their immediate neighbours."""
        return sorted({j for k in self._free() for j in (k - 2, k - 1, k) if j >= 0})

    def unseen_pairs(self, text: str) -> list[tuple[str, str]]:
        """The word pairs at the holes of ``text`` that the word-pair table never saw (empty: none, or no table);
        with ``grammar``, not a verb and its object's start (*serves the*: :func:`.complements.object_starts`) nor
        a name's end (*the Express near*: :func:`.name_runs.name_ends`): the parse says they are grammatical."""
        table, free, split = self._table(), self._free(), split_words(text)
        if table is None:
            return []
        unseen = table.unseen(split, free)
        if unseen:
            for k in self._excused(split):
                pair = (split[k].lower(), split[k + 1].lower())
                if (k + 1 in free or k + 2 in free) and pair in unseen:
                    unseen.remove(pair)
        return unseen + run_on_names(table, split, free)

    def unseen_triples(self, text: str) -> list[tuple[str, str, str]]:
        """The word triples at the holes of ``text`` that the table never saw (:meth:`.WordPairs.unseen_triples`;
        empty: none, no table, or a table without triples), less those holding a pair the parse excuses
        (:meth:`unseen_pairs`)."""
        table, split = self._table(), split_words(text)
        if table is None:
            return []
        unseen = table.unseen_triples(split, self._free())
        if unseen:
            for k in self._excused(split):
                pair = (split[k].lower(), split[k + 1].lower())
                unseen = [t for t in unseen if pair not in (t[:2], t[1:])]
        return unseen

    def _excused(self, split: list[str]) -> list[int]:
        """0-based ``k`` whose pair ``split[k], split[k + 1]`` the parse calls grammatical whatever the table holds
        (with ``grammar``; none without)."""
        if not self.grammar:
            return []
        p = parse_words([split])[0]
        return sorted(object_starts(split, p) | name_ends(split, p))
