"""Shared pieces of the subword (BPE) tests: a tiny corpus and its byte-level BPE, rare words, the whole-word subword
``Ġthe``, the layout check of a subword infill (:func:`hole_subwords`) and a wrapper that biases a mask predictor's logits (tests/test_subword_constraints.py,
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


def hole_subwords(template: str, texts: list[str], rows: list[list[int]], placed: list, bpe: BPETokenizer) -> list[int]:
    """Check a subword infill output against the layouts the backend placed (``placed``: one spec per sample): every
    placed id at its position, ``[END]`` where placed and only PAD after it, every fixed word of ``template`` kept in
    the text. Returns each sample's count of free (hole) subword positions, for the caller's own bound."""
    free_counts = []
    for text, row, spec in zip(texts, rows, placed, strict=True):
        assert all(row[p] == i for p, i in spec.positions.items())  # the placed layout, exactly
        end = row.index(bpe.vocab.end_id)
        assert spec.positions[end] == bpe.vocab.end_id and set(row[end + 1:]) == {bpe.vocab.pad_id}
        free_counts.append(sum(p not in spec.positions for p in range(1, end)))
        for w in template.replace("[MASK:3]", " ").replace("[MASK:2]", " ").replace("[MASK]", " ").split():
            assert w in text  # every given character kept (emoji, accents, rare names): no OutOfVocabularyError
    return free_counts
