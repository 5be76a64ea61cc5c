"""Turn texts into the fixed-length id tensors the models train on."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from ctrlgen.errors import DataError
from ctrlgen.text.tokenizer import Tokenizer, split_words

log = logging.getLogger(__name__)


def encode_corpus(texts: Sequence[str], tokenizer: Tokenizer, seq_len: int) -> torch.Tensor:
    """Encode ``texts`` to ``Tensor[N, seq_len]`` (long); texts longer than ``seq_len - 2`` words
    are dropped (truncation would teach the model sentences without an END) and counted in a log line.
    """
    rows, dropped = [], 0
    for text in texts:
        if len(split_words(text)) + 2 > seq_len:
            dropped += 1
            continue
        rows.append(tokenizer.encode(text, seq_len))
    if dropped:
        log.info("dropped %d of %d texts longer than seq_len - 2 = %d words", dropped, len(texts), seq_len - 2)
    if not rows:
        raise DataError(f"no text fits in seq_len = {seq_len}", "increase seq_len")
    return torch.tensor(rows, dtype=torch.long)
