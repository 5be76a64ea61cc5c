"""A small autoregressive word LM: ``transformers.GPT2LMHeadModel`` on the library vocabulary.

Two uses, one class:

- the **teacher LM** that scores fluency ("lm-score", ``ctrlgen.oracles.teacher``), and
- the **AR-draft model** whose samples seed the edit backend.

Both are trained from scratch (random init from a ``GPT2Config``; no pretrained GPT-2 is loaded) on
sequences ``[START] w1 … wn [END] [PAD] …`` made by ``Tokenizer.encode``. PAD keys are masked out of
attention (``ids != PAD``); with right padding and causal attention no scored position could see a PAD
anyway, so the mask changes no score: it states the intent (and keeps transformers from warning).

Weight tying. GPT-2 shares one matrix between the token embedding and the output head
(``tie_embeddings = True``, the default). ``state_dict()`` of a tied model names that tensor twice
(``transformer.wte.weight`` and ``lm_head.weight``), which safetensors refuses to save and which would let
the trainer's EMA swap be overwritten by the stale second copy. So ``ARLM.state_dict()`` leaves out
``gpt.lm_head.weight`` when the weights are tied, and ``load_state_dict`` fills it back in from the
embedding: a checkpoint holds the shared matrix once and loads back bit-identically.

transformers is imported when an ``ARLM`` is built, not when this module is imported, so that
``import ctrlgen`` stays fast.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ctrlgen.errors import ConfigError, SamplingError
from ctrlgen.models.hub import HubMixin
from ctrlgen.text.vocab import END, MASK, PAD, SPECIALS, START, UNK

PAD_ID, START_ID, END_ID, UNK_ID, MASK_ID = (SPECIALS.index(s) for s in (PAD, START, END, UNK, MASK))
_TIED, _EMBEDDING = "gpt.lm_head.weight", "gpt.transformer.wte.weight"


class Steer(Protocol):
    """A hook on :meth:`ARLM.sample`'s steps: reweights the next-token log-scores, then hears the ids drawn."""

    def __call__(self, logits: Tensor) -> Tensor:  # [B, V] -> [B, V]
        ...

    def advance(self, ids: Tensor) -> None:  # [B]
        ...


@dataclass
class ARLMConfig:
    vocab_size: int  # number of words incl. specials (from the tokenizer)
    seq_len: int = 48  # longest sequence incl. START/END; GPT-2's n_positions (E2E: 99.3% of references fit)
    hidden: int = 128  # transformer width (GPT-2's n_embd)
    layers: int = 4  # transformer blocks (n_layer)
    heads: int = 4  # attention heads (n_head); must divide hidden
    dropout: float = 0.1  # embedding, attention and residual dropout
    tie_embeddings: bool = True  # output head shares the token-embedding matrix (as in GPT-2)

    def gpt2(self) -> Any:
        """The equivalent ``transformers.GPT2Config`` (special-token ids set explicitly)."""
        from transformers import GPT2Config

        return GPT2Config(vocab_size=self.vocab_size, n_positions=self.seq_len, n_embd=self.hidden,
                          n_layer=self.layers, n_head=self.heads, resid_pdrop=self.dropout,
                          embd_pdrop=self.dropout, attn_pdrop=self.dropout, bos_token_id=START_ID,
                          eos_token_id=END_ID, pad_token_id=PAD_ID, tie_word_embeddings=self.tie_embeddings)


class ARLM(nn.Module, HubMixin):
    """Left-to-right LM over word ids.

    - ``forward(ids: Tensor[B, L]) -> Tensor[B, L, V]`` — logits for the token after each position.
    - ``nll(ids: Tensor[B, L]) -> Tensor[B]`` — Σ −log p over the scored tokens (see ``score_mask``).
    - ``token_counts(ids) -> Tensor[B]`` — how many tokens ``nll`` scores.
    - ``sample(n, generator, ...) -> Tensor[n, max_len]`` — ``[START] … [END] PAD…``.
    """

    model_type = "ar-lm"
    config_class = ARLMConfig

    def __init__(self, config: ARLMConfig) -> None:
        super().__init__()
        c = config
        if c.vocab_size <= len(SPECIALS):
            raise ConfigError(f"model.vocab_size must be > {len(SPECIALS)} (the specials), got {c.vocab_size}",
                              "take vocab_size from len(tokenizer)")
        if c.seq_len < 2:
            raise ConfigError(f"model.seq_len must be >= 2 (START and END), got {c.seq_len}")
        if c.hidden <= 0 or c.heads <= 0 or c.hidden % c.heads:
            raise ConfigError(f"model.hidden = {c.hidden} must be a positive multiple of model.heads = {c.heads}",
                              "e.g. hidden = 128, heads = 4")
        from transformers import GPT2LMHeadModel

        self.config = c
        self.gpt = GPT2LMHeadModel(c.gpt2())
        if c.tie_embeddings:
            self.register_state_dict_post_hook(_drop_tied_head)
            self.register_load_state_dict_pre_hook(_restore_tied_head)

    def forward(self, ids: Tensor) -> Tensor:
        return self.gpt(input_ids=ids, attention_mask=(ids != PAD_ID).long(), use_cache=False).logits

    # ------------------------------------------------------------------ likelihood
    @staticmethod
    def score_mask(ids: Tensor) -> Tensor:
        """``Tensor[B, L-1]`` bool over the targets ``ids[:, 1:]``: every token after position 0 up to
        and including the first END; PAD is never scored (nor anything after END). Position 0 (START)
        is context only."""
        target = ids[:, 1:]
        is_end = (target == END_ID).long()
        ended_before = (is_end.cumsum(1) - is_end) > 0
        return (target != PAD_ID) & ~ended_before

    def token_nll(self, ids: Tensor) -> Tensor:
        """``Tensor[B, L-1]``: −log p(ids[:, j+1] | ids[:, ≤j]), zero where ``score_mask`` is False."""
        logits = self(ids)[:, :-1].float()
        nll = F.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
        return nll * self.score_mask(ids)

    def nll(self, ids: Tensor) -> Tensor:
        """``ids: Tensor[B, L]`` → ``Tensor[B]``: summed token NLL in nats."""
        return self.token_nll(ids).sum(1)

    def token_counts(self, ids: Tensor) -> Tensor:
        """``ids: Tensor[B, L]`` → ``Tensor[B]`` (long): the number of tokens ``nll`` sums over."""
        return self.score_mask(ids).sum(1)

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0,
               top_p: float = 1.0, max_len: int | None = None, allow_unk: bool = True,
               allowed: Tensor | None = None, steer: Steer | None = None) -> Tensor:
        """Draw ``n`` sequences ``Tensor[n, max_len]`` = ``[START] w… [END] PAD…`` (``max_len`` defaults to
        ``config.seq_len``). ``temperature = 0`` is greedy decoding; ``top_p < 1`` is nucleus sampling.
        ``allowed: BoolTensor[max_len, V]`` restricts the id drawn at each position (row 0, [START], is unused);
        a position that allows no usable id raises.
        ``steer`` reweights each step's next-token log-scores before the draw (``steer(logits) -> logits``,
        ``Tensor[n, V]``) and hears the ids drawn (``steer.advance(ids)``, ``LongTensor[n]``; ``PAD`` for finished
        rows) — FUDGE-style guided decoding (:mod:`ctrlgen.evaluation.fudge`) without a second sampling loop.
        ``generator`` must live on the model's device; the same seed gives the same samples.
        Runs in eval mode (dropout off) and restores the previous mode afterwards.
        """
        max_len = self.config.seq_len if max_len is None else max_len
        if n <= 0:
            raise SamplingError(f"n must be > 0, got {n}")
        if not 2 <= max_len <= self.config.seq_len:
            raise SamplingError(f"max_len must be in [2, {self.config.seq_len}], got {max_len}",
                                "the model has no positions beyond config.seq_len")
        if temperature < 0 or not 0 < top_p <= 1:
            raise SamplingError(f"need temperature >= 0 and 0 < top_p <= 1, got {temperature}, {top_p}")
        device = next(self.parameters()).device
        if allowed is not None and (allowed.dtype != torch.bool or tuple(allowed.shape) != (max_len, self.config.vocab_size)):
            raise SamplingError(f"allowed must be a BoolTensor[{max_len}, {self.config.vocab_size}], got "
                                f"{allowed.dtype} {tuple(allowed.shape)}", "one row of allowed ids per position")
        # Never valid after START: these ids do not occur inside a training sequence.
        banned = [PAD_ID, START_ID, MASK_ID] + ([] if allow_unk else [UNK_ID])
        ids = torch.full((n, 1), START_ID, dtype=torch.long, device=device)
        done = torch.zeros(n, dtype=torch.bool, device=device)
        was_training, past = self.training, None
        self.eval()
        try:
            for pos in range(1, max_len):
                # The KV cache turns each step into one new position instead of re-reading the prefix.
                out = self.gpt(input_ids=ids if past is None else ids[:, -1:], **{_cache_argument(): past},
                               attention_mask=(ids != PAD_ID).long(), use_cache=True)
                past = out.cache if hasattr(out, "cache") else out.past_key_values
                logits = out.logits[:, -1].float()
                logits[:, banned] = float("-inf")
                if allowed is not None:
                    logits[:, ~allowed[pos].to(device)] = float("-inf")
                    if not bool(torch.isfinite(logits).any(-1).all()):
                        raise SamplingError(f"allowed leaves no usable id at position {pos}",
                                            "allow at least one word (or [END]) at every position")
                if pos == max_len - 1:  # last slot: end the sequence so every sample is well formed
                    logits[:, torch.arange(logits.shape[1], device=device) != END_ID] = float("-inf")
                if steer is not None:
                    logits = steer(logits)
                nxt = _pick(logits, generator, temperature, top_p)
                nxt = torch.where(done, torch.full_like(nxt, PAD_ID), nxt)  # finished rows only pad
                if steer is not None:
                    steer.advance(nxt)
                ids = torch.cat([ids, nxt[:, None]], dim=1)
                done |= nxt == END_ID
                if bool(done.all()):
                    break
        finally:
            self.train(was_training)
        return F.pad(ids, (0, max_len - ids.shape[1]), value=PAD_ID)


@functools.cache
def _cache_argument() -> str:
    """The KV-cache keyword of ``GPT2LMHeadModel.forward``: ``cache`` in recent transformers, ``past_key_values``
    before (passing the old name to a new version warns on every step). Looked up once, lazily: transformers is
    imported only when a model is built."""
    from transformers import (
        GPT2LMHeadModel,  # lazy: start-up speed (transformers loads only with a model)
    )

    return "cache" if "cache" in inspect.signature(GPT2LMHeadModel.forward).parameters else "past_key_values"


def _pick(logits: Tensor, generator: torch.Generator | None, temperature: float, top_p: float) -> Tensor:
    """``logits: Tensor[B, V]`` → ``Tensor[B]`` next ids (greedy, or temperature + nucleus sampling)."""
    if temperature == 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p < 1:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        # Keep the smallest prefix whose mass reaches top_p (the most likely token always survives).
        drop = sorted_p.cumsum(-1) - sorted_p >= top_p
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


def _drop_tied_head(module: nn.Module, state_dict: dict[str, Tensor], prefix: str, local_metadata: Any) -> None:
    state_dict.pop(prefix + _TIED, None)


def _restore_tied_head(module: nn.Module, state_dict: dict[str, Tensor], prefix: str, *args: Any) -> None:
    if prefix + _TIED not in state_dict and prefix + _EMBEDDING in state_dict:
        state_dict[prefix + _TIED] = state_dict[prefix + _EMBEDDING]


class ARObjective(nn.Module):
    """Teacher-forced cross-entropy for ``ctrlgen.training.trainer.Trainer``.

    ``forward(ids: Tensor[B, L], generator) -> {"loss": Tensor[B], "tokens": Tensor[B]}``: ``loss`` is each
    sequence's mean token NLL (nats; the trainer then averages sequences equally); ``generator`` is
    unused (teacher forcing draws no noise) and accepted for the trainer's contract.
    """

    def __init__(self, model: ARLM) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: Tensor, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        counts = self.model.token_counts(ids)
        loss = self.model.nll(ids) / counts.clamp(min=1)
        return {"loss": loss, "tokens": counts.float()}
