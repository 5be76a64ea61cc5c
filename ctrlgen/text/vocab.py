"""Word vocabulary with reserved special tokens."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ctrlgen.errors import CheckpointError

START, END, PAD, UNK, MASK = "[START]", "[END]", "[PAD]", "[UNK]", "[MASK]"
#: Specials in id order. MASK is reserved for discrete (absorbing) diffusion; it always
#: exists so every backend shares one vocabulary layout.
SPECIALS: tuple[str, ...] = (PAD, START, END, UNK, MASK)


@dataclass
class Vocabulary:
    """Maps words to ids. Ids ``0..len(SPECIALS)-1`` are the specials, in ``SPECIALS`` order."""

    words: list[str]
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if tuple(self.words[: len(SPECIALS)]) != SPECIALS:
            raise CheckpointError(
                f"vocabulary must start with the specials {SPECIALS}, got {self.words[:len(SPECIALS)]}",
                "rebuild the tokenizer with Tokenizer.train()",
            )
        self._index = {w: i for i, w in enumerate(self.words)}
        if len(self._index) != len(self.words):
            raise CheckpointError("vocabulary has duplicate words", "rebuild the tokenizer")

    @classmethod
    def build(cls, counts: Counter[str], min_count: int) -> Vocabulary:
        """Keep words seen at least ``min_count`` times, most frequent first (ties by spelling)."""
        kept = sorted((w for w, c in counts.items() if c >= min_count and w not in SPECIALS),
                      key=lambda w: (-counts[w], w))
        return cls(list(SPECIALS) + kept)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self._index

    def id(self, word: str) -> int:
        """Id of ``word``; unknown words map to UNK."""
        return self._index.get(word, self.unk_id)

    def ids(self, words: Iterable[str]) -> list[int]:
        return [self.id(w) for w in words]

    def word(self, i: int) -> str:
        return self.words[i]

    def words_of(self, ids: Sequence[int]) -> list[str]:
        return [self.words[i] for i in ids]

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def start_id(self) -> int:
        return 1

    @property
    def end_id(self) -> int:
        return 2

    @property
    def unk_id(self) -> int:
        return 3

    @property
    def mask_id(self) -> int:
        return 4
