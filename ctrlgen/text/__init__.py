"""Text: the tokenizers (word level, byte-level BPE) and vocabulary, word <-> subword alignment, E2E data
readers and corpus encoding.

The names below are loaded on first access (PEP 562), so that ``ctrlgen.text.e2e`` (E2E field names, MR
parsing) can be read without importing torch or spaCy — the CLI checks ``--constraint`` specs with it at
start-up.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "encode_corpus": "ctrlgen.text.dataset",
    **{n: "ctrlgen.text.e2e" for n in ("E2E_FIELDS", "E2EExample", "file_fingerprint", "parse_mr", "read_e2e_csv")},
    **{n: "ctrlgen.text.tokenizer" for n in ("Tokenizer", "split_words", "word_spans")},
    "BaseTokenizer": "ctrlgen.text.base",
    "BPETokenizer": "ctrlgen.text.bpe",
    "load_tokenizer": "ctrlgen.text.loader",
    **{n: "ctrlgen.text.alignment" for n in ("WordSpan", "align_text", "owners", "word_count", "word_slice",
                                             "words_of")},
    **{n: "ctrlgen.text.vocab" for n in ("END", "MASK", "PAD", "SPECIALS", "START", "UNK", "Vocabulary")},
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ctrlgen.text' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
