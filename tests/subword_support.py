"""Shared pieces of the subword (BPE) tests: a tiny corpus and its byte-level BPE, rare words, the whole-word subword
``Ġthe``, and a wrapper that biases a mask predictor's logits (tests/test_subword_constraints.py,
test_masked_subword.py, test_embedding_subword.py, test_length_phrase_subword.py)."""

from __future__ import annotations

from torch import Tensor, nn

from ctrlgen.backends.masked.llada import MaskedLLaDA
from ctrlgen.text.bpe import BPETokenizer

CORPUS = ["The Vaults is a cheap pub near the river.", "The Mill is a coffee shop in the city centre.",
          "Zizzi is a family friendly Italian restaurant.", "Aromi serves Japanese food near Café Rouge."] * 3
RARE = "Zyxwv"  # never seen in training: one subword per letter
ODD = "Zoë's 😀 naïve"  # not in any word vocabulary: several byte-level subwords per word


def tiny_bpe(vocab_size: int = 300) -> BPETokenizer:
    """A byte-level BPE trained on :data:`CORPUS`."""
    return BPETokenizer.train(CORPUS, vocab_size=vocab_size)


def pieces(bpe: BPETokenizer, text: str) -> list[int]:
    """The subword ids of ``text`` without ``[START]`` / ``[END]``."""
    return bpe.encode(text)[1:-1]


def whole_word_the(bpe: BPETokenizer) -> int:
    """The id of ``Ġthe``: one subword that is a whole word after a space."""
    ids = pieces(bpe, " the")
    assert len(ids) == 1 and bpe.vocab.word(ids[0]).startswith("Ġ")
    return ids[0]


class Biased(nn.Module):
    """A mask predictor whose logits ``[B, L, V]`` get ``bias: Tensor[V]`` added (the masked generator's contract)."""

    def __init__(self, model: MaskedLLaDA, bias: Tensor) -> None:
        super().__init__()
        self.inner, self.config = model, model.config
        self.mask_id, self.vocab_size = model.mask_id, model.vocab_size
        self.register_buffer("bias", bias)

    def forward(self, ids: Tensor) -> Tensor:
        return self.inner(ids) + self.bias
