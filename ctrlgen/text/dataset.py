"""Turn texts into the fixed-length id tensors the models train on."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from ctrlgen.errors import DataError
from ctrlgen.text.base import BaseTokenizer

log = logging.getLogger(__name__)


def encode_corpus(texts: Sequence[str], tokenizer: BaseTokenizer, seq_len: int) -> torch.Tensor:
    """Encode ``texts`` to ``Tensor[N, seq_len]`` (long); texts longer than ``seq_len - 2`` tokens (words for a
    word-level tokenizer, subwords for BPE) are dropped (truncation would teach the model sentences without an END) and counted in a log line.
    """
    rows, dropped = [], 0
    for text in texts:
        if len(tokenizer.tokenize(text)) + 2 > seq_len:
            dropped += 1
            continue
        rows.append(tokenizer.encode(text, seq_len))
    if dropped:
        log.info("dropped %d of %d texts longer than seq_len - 2 = %d tokens", dropped, len(texts), seq_len - 2)
    if not rows:
        raise DataError(f"no text fits in seq_len = {seq_len}", "increase seq_len")
    return torch.tensor(rows, dtype=torch.long)
