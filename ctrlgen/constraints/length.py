"""``Length(n)``: the text has ``n`` words."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from ctrlgen.constraints.base import (
    Constraint,
    ConstraintError,
    HardSpec,
    as_texts,
    compile_runs,
    compile_words,
    is_subword,
)
from ctrlgen.oracles.metrics import length_success
from ctrlgen.registry import CHECK, HARD
from ctrlgen.text.tokenizer import Tokenizer, split_words


@dataclass(frozen=True, repr=False)
class Length(Constraint):
    """The text has exactly ``n`` words (``split_words`` words; ``[START]``/``[END]`` not counted).

    Hard face: ``[END]`` at position ``n + 1`` and ``[PAD]`` after it (``[START]`` is position 0), so
    it needs ``seq_len >= n + 2``. Check face: ``|words - n| <= tolerance``; ``tolerance`` relaxes only
    the check (Diffusion-LM reports 0 and 2), the hard face always pins exactly ``n``.

    On a subword model ``n`` words have no known number of subwords, so ``[END]``'s position is chosen per sample
    by the layout search of :mod:`ctrlgen.core.subword_layout`: one hole of ``n`` words, ``[END]`` after it (by
    default ``n`` whole-word subwords; with ``EXTRA_SUBWORD_P > 0``, ``m`` in ``n … 3n`` drawn ∝ the model's
    p(``[END]`` at ``m + 1`` | the fixed tokens) × a length prior), and word-boundary bans keep the hole at ``n``
    words. The check face counts the words of the output, so a report says ``satisfied`` only for texts of ``n``
    words.
    """

    n: int
    tolerance: int = field(default=0, kw_only=True)  # words of slack the check face accepts

    faces: ClassVar[frozenset[str]] = frozenset({HARD, CHECK})

    def __post_init__(self) -> None:
        for name, v, low in (("n", self.n, 1), ("tolerance", self.tolerance, 0)):
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ConstraintError(f"Length: {name} must be an int >= {low}, got {v!r}",
                                      "Length(12) asks for 12 words; Length(12, tolerance=2) checks 10..14")

    def layout(self) -> tuple[dict[int, str], int | None]:
        """``(no fixed word, n words)``: the word layout the subword placement reads."""
        return {}, self.n

    def space_before(self) -> dict[int, bool]:
        return {}

    def hard(self, tokenizer: Tokenizer, seq_len: int) -> HardSpec | None:
        """``[END]`` at ``n + 1``; on a subword model ``None`` after checking that ``n`` subwords fit (the class doc)."""
        if is_subword(tokenizer):
            compile_runs(self, tokenizer, seq_len, {}, self.n)
            return None
        return compile_words(self, tokenizer, seq_len, {}, self.n, allow_unk=False)

    def satisfied(self, texts: Sequence[str]) -> list[bool]:
        return [length_success(t, self.n, self.tolerance) for t in as_texts(texts)]

    def score(self, texts: Sequence[str]) -> list[float]:
        """1.0 within ``tolerance``, else ``1 / (1 + words beyond the tolerance)``."""
        return [1.0 / (1 + max(0, abs(len(split_words(t)) - self.n) - self.tolerance)) for t in as_texts(texts)]
