"""Text layer: tokenizer, vocabulary, E2E data."""

from ctrlgen.text.dataset import encode_corpus
from ctrlgen.text.e2e import E2E_FIELDS, E2EExample, file_fingerprint, parse_mr, read_e2e_csv
from ctrlgen.text.tokenizer import Tokenizer, split_words
from ctrlgen.text.vocab import END, MASK, PAD, SPECIALS, START, UNK, Vocabulary

__all__ = ["E2E_FIELDS", "E2EExample", "END", "MASK", "PAD", "SPECIALS", "START", "UNK", "Tokenizer",
           "Vocabulary", "encode_corpus", "file_fingerprint", "parse_mr", "read_e2e_csv", "split_words"]
