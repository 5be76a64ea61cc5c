"""A learned well-formedness judge: an ELECTRA-style replaced-token detector for E2E text.

ELECTRA (Clark et al. 2020) trains a discriminator to tell, per token, whether a small masked LM replaced it. Here
the replacements are what the bundled diffusion models write wrong: words resampled by ``e2e-masked`` (15–30% of a
reference at once, so neighbours need not agree), a span of 1–4 words re-filled by it (a hole fill), and words
dropped, doubled or swapped (``recipes/train_rtd.py``). A word the detector scores high does not fit its context —
the long tail (*a medium priced ,*, *find a low at*, *pub pub*) that hand-written fragment rules keep missing.

**Words.** :meth:`ReplacedTokenDetector.p_replaced` returns one probability per word of
:func:`ctrlgen.text.split_words` (the library's spaCy split, the one ``Infill`` positions and every word tokenizer
use), so ``p[i]`` is about ``split_words(text)[i]``; a word outside the detector's vocabulary is read as ``[UNK]``
(still scored). The sequence is ``[START] w1 … wn [END]`` with no padding: the backbone has no attention mask, so
texts are batched with others of the same length only, which keeps a text's scores independent of its batch (and is
how the recipe trains: batches of equal length). A text longer than
``seq_len - 2`` words is scored in windows of that many words; each word takes its score from the first window
that holds it.

The bundled detector (``ctrlgen/assets/oracles/e2e-rtd``, :func:`bundled_detector`) reads the word vocabulary of
``e2e-masked`` / ``e2e-sedd``; its recipe, data fingerprint and measured numbers are in its README. ``Infill``
gates every fill with it by default (``Infill(template)``; ``detector=None`` to skip it;
:data:`ctrlgen.constraints.fill_check.RTD_TAU`). A missing or broken asset raises
:class:`~ctrlgen.errors.CheckpointError` with a hint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import torch
from torch import Tensor, nn

from ctrlgen.errors import CheckpointError, DataError
from ctrlgen.models.backbone import Backbone, BackboneConfig
from ctrlgen.models.pretrained import load_pretrained
from ctrlgen.text.tokenizer import Tokenizer, split_words

BUNDLED_RTD = "e2e-rtd"  # the bundled detector's folder under ctrlgen/assets/oracles


@dataclass
class DetectorConfig:
    vocab_size: int = 560  # word vocabulary (the bundled one of e2e-masked / e2e-sedd)
    hidden: int = 128  # transformer width
    layers: int = 4  # encoder blocks
    heads: int = 4  # attention heads
    ff_mult: int = 4  # feed-forward width = ff_mult * hidden
    dropout: float = 0.1  # dropout while training
    seq_len: int = 48  # [START] + up to seq_len - 2 words + [END], padded with [PAD]

    def backbone(self) -> BackboneConfig:
        return BackboneConfig(hidden=self.hidden, layers=self.layers, heads=self.heads, ff_mult=self.ff_mult,
                              dropout=self.dropout, seq_len=self.seq_len)


class ReplacedTokenDetector(nn.Module):
    """Word embeddings (+ a kernel-3 convolution of them, so each word sees its neighbours from the first step) →
    :class:`~ctrlgen.models.backbone.Backbone` (no time input: a zero vector) → one logit per position. ``forward(ids: LongTensor[B, L]) -> Tensor[B, L]``: logit of "this token was replaced"."""

    model_type = "rtd"
    config_class = DetectorConfig

    def __init__(self, config: DetectorConfig) -> None:
        super().__init__()
        if config.seq_len < 3:
            raise ValueError(f"seq_len must be >= 3 (START, a word, END), got {config.seq_len}")
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.hidden)
        self.backbone = Backbone(config.backbone())
        # each word also sees its two neighbours' embeddings from the start: "does it fit next to them" is the question
        self.local = nn.Conv1d(config.hidden, config.hidden, kernel_size=3, padding=1)
        self.head = nn.Linear(config.hidden, 1)  # word embeddings keep N(0, 1), the scale of the position embeddings
        self.tokenizer: Tokenizer | None = None  # set by load_pretrained (attach) or by the caller

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    def forward(self, ids: Tensor) -> Tensor:
        h = self.embed(ids)
        h = h + self.local(h.transpose(1, 2)).transpose(1, 2)
        temb = torch.zeros(ids.shape[0], self.config.hidden, dtype=h.dtype, device=h.device)
        return self.head(self.backbone(h, temb)).squeeze(-1)

    def encode(self, words: Sequence[Sequence[str]]) -> Tensor:
        """``LongTensor[N, n + 2]``: ``[START] ids [END]`` of ``N`` word lists of one length ``n <= seq_len - 2``."""
        v = self._tokenizer().vocab
        if len({len(w) for w in words}) > 1:
            raise DataError("encode() takes word lists of one length (no padding: the backbone has no attention mask)",
                            "call p_replaced(), which groups texts by length")
        rows = [[v.start_id, *v.ids(w), v.end_id] for w in words]
        if rows and len(rows[0]) > self.config.seq_len:
            raise DataError(f"{len(rows[0]) - 2} words do not fit seq_len {self.config.seq_len}",
                            "p_replaced() splits long texts into windows; call it instead")
        return torch.tensor(rows, dtype=torch.long).reshape(len(rows), -1)

    @torch.no_grad()
    def p_replaced(self, texts: Sequence[str], batch_size: int = 256) -> list[list[float]]:
        """Per text, per word of ``split_words(text)``: the probability that the word was replaced (does not fit)."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise DataError("p_replaced takes a list of texts (str)", "wrap a single text in a list: [text]")
        words = [split_words(t) for t in texts]
        return self.p_replaced_words(words, batch_size)

    @torch.no_grad()
    def p_replaced_words(self, words: Sequence[Sequence[str]], batch_size: int = 256) -> list[list[float]]:
        """:meth:`p_replaced` on texts already split into words."""
        if batch_size < 1:
            raise DataError(f"batch_size must be >= 1, got {batch_size}", "pass a positive batch size")
        width = self.config.seq_len - 2
        windows: list[tuple[int, int, list[str]]] = []  # (text, first word, words of the window)
        for k, w in enumerate(words):
            starts = list(range(0, max(1, len(w) - width + 1), width))
            if len(w) > width and starts[-1] + width < len(w):
                starts.append(len(w) - width)
            windows.extend((k, s, list(w[s:s + width])) for s in starts)
        out: list[list[float | None]] = [[None] * len(w) for w in words]
        was_training = self.training
        self.eval()
        try:
            device = next(self.parameters()).device
            order = sorted(range(len(windows)), key=lambda i: len(windows[i][2]))
            groups = [[i for i in order if len(windows[i][2]) == n] for n in sorted({len(w) for _, _, w in windows})]
            for group in groups:
                for b in range(0, len(group), batch_size):
                    part = [windows[i] for i in group[b:b + batch_size]]
                    p = torch.sigmoid(self(self.encode([w for _, _, w in part]).to(device)).float()).cpu()
                    for row, (k, s, w) in zip(p.tolist(), part, strict=True):
                        for j in range(len(w)):
                            if out[k][s + j] is None:
                                out[k][s + j] = row[j + 1]
        finally:
            self.train(was_training)
        return [[float(x) for x in o] for o in out]  # type: ignore[arg-type]

    def _tokenizer(self) -> Tokenizer:
        if self.tokenizer is None:
            raise CheckpointError("this detector has no tokenizer", "set detector.tokenizer = Tokenizer(...) "
                                  "with the vocabulary it was trained on, or load one with load_detector(path)")
        return self.tokenizer


def load_detector(path: str | Path) -> ReplacedTokenDetector:
    """A detector directory written by ``save_pretrained`` (``config.json``, ``model.safetensors``, tokenizer)."""
    path = Path(path)
    if not (path / "config.json").is_file() or not (path / "model.safetensors").is_file():
        raise CheckpointError(f"no replaced-token detector at {path} (config.json + model.safetensors)",
                              "train one: CTRLGEN_DATA=/path/to/data python recipes/train_rtd.py --out DIR")
    model, tokenizer, _ = load_pretrained(path, ReplacedTokenDetector)
    if not isinstance(tokenizer, Tokenizer):
        raise CheckpointError(f"{path}: the detector needs a word-level tokenizer, got {type(tokenizer).__name__}",
                              "train it on the word vocabulary of e2e-masked (recipes/train_rtd.py)")
    model.tokenizer = tokenizer
    return model  # type: ignore[return-value]


@lru_cache(maxsize=1)
def bundled_detector() -> ReplacedTokenDetector:
    """The bundled E2E detector (loaded once; float32, CPU, eval mode)."""
    return load_detector(Path(str(resources.files("ctrlgen") / "assets" / "oracles" / BUNDLED_RTD)))
