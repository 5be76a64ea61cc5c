"""The FUDGE future discriminator (Yang & Klein 2021): p(a | x_≤i) for an attribute a = (field, value) of E2E.

A GRU reads the prefix with the attribute in view and, for every candidate next token ``v`` at once, gives the
log-odds that the *finished* text will realise ``field = value`` if ``x_i = v``. The attribute is encoded from its
field (an embedding: values such as ``familyFriendly = yes`` are never said verbatim) and its value's words (the
same word embeddings as the text), so a new name made of known words is a new attribute, not an unknown one. To
make that generalise beyond the training names, every input token also carries a *value-slot* feature: whether
it is the value's 1st, 2nd, 3rd, (4th or later) word, or none — a name the model never saw is tracked the
same way as one it did. The recipe (``recipes/train_fudge.py``) adds synthetic names to the data for the same reason.

One GRU step for all ``V`` candidates is a broadcast sum, not ``V`` forwards: the GRU's input projection is
linear in the input ``[E(v); a; slot(v)]``, so ``W_ih · input = (W_e E)[v] + W_a a + W_s slot(v)`` — a ``[V, 3H]``
table computed once per call, plus a ``[B, 3H]`` term per attribute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ctrlgen.errors import CheckpointError
from ctrlgen.models.ar_lm import PAD_ID
from ctrlgen.models.pretrained import load_pretrained
from ctrlgen.text.e2e import E2E_FIELDS

#: Where the bundled discriminator of ``e2e-ar-draft`` lives (beside the model it guides).
BUNDLED = ("e2e-ar-draft", "fudge")
RECIPE = "CTRLGEN_DATA=/path/to/data OMP_NUM_THREADS=1 python recipes/train_fudge.py"


@dataclass
class FutureDiscriminatorConfig:
    vocab_size: int  # the guided LM's vocabulary (ids must match its tokenizer)
    embed: int = 64  # word embedding width (text and value words share it)
    attr: int = 64  # attribute vector width
    hidden: int = 128  # GRU state width
    head: int = 64  # width of the tanh layer before the logit
    value_slots: int = 4  # value word positions told apart (1st, 2nd, 3rd, 4th-or-later); 0 = not a value word
    fields: list[str] = field(default_factory=lambda: list(E2E_FIELDS))  # the fields it was trained on


class FutureDiscriminator(nn.Module):
    """``forward(prefix: LongTensor[B, i], fields: LongTensor[B], values: LongTensor[B, W]) -> Tensor[B, V]``:
    logit of "the finished text realises fields[b] = values[b]" for ``prefix[b] + [v]``, every ``v`` at once.

    ``values`` holds the value's word ids, right-padded with PAD. Incremental use (decoding): :meth:`attribute`
    once, :meth:`sequence_logits` of ``[START]`` for the first state, then :meth:`candidates` per step, keeping
    the state of the token drawn. :meth:`sequence_logits` is the teacher-forced form used in training.
    """

    model_type = "fudge-discriminator"
    config_class = FutureDiscriminatorConfig

    def __init__(self, config: FutureDiscriminatorConfig) -> None:
        super().__init__()
        c = self.config = config
        self.embed = nn.Embedding(c.vocab_size, c.embed)
        self.field = nn.Embedding(len(c.fields), c.embed)
        self.attr_proj = nn.Linear(2 * c.embed, c.attr)
        self.init_proj = nn.Linear(c.attr, c.hidden)
        self.gru = nn.GRU(c.embed + c.attr + c.value_slots + 1, c.hidden, batch_first=True)
        self.head_h = nn.Linear(c.hidden, c.head)
        self.head_a = nn.Linear(c.attr, c.head, bias=False)
        self.out = nn.Linear(c.head, 1)

    # ------------------------------------------------------------------ attribute
    def attribute(self, fields: Tensor, values: Tensor) -> Tensor:
        """``fields: LongTensor[B]``, ``values: LongTensor[B, W]`` → ``Tensor[B, attr]``: field embedding and the
        mean embedding of the value's words."""
        mask = (values != PAD_ID).float()[..., None]
        words = (self.embed(values) * mask).sum(1) / mask.sum(1).clamp(min=1)
        return torch.tanh(self.attr_proj(torch.cat([self.field(fields), words], -1)))

    def slots(self, tokens: Tensor, values: Tensor) -> Tensor:
        """``tokens: LongTensor[B, L]``, ``values: LongTensor[B, W]`` → ``LongTensor[B, L]``: 1 + the index of the
        first value word equal to the token (capped at ``value_slots``), 0 for any other token."""
        hit = (tokens[..., None] == values[:, None, :]) & (values != PAD_ID)[:, None, :]  # [B, L, W]
        first = torch.where(hit.any(-1), hit.float().argmax(-1) + 1, torch.zeros_like(tokens))
        return first.clamp(max=self.config.value_slots)

    def _inputs(self, tokens: Tensor, attr: Tensor, values: Tensor) -> Tensor:
        """``[E(tokens); attr; onehot(slot)]``: ``Tensor[B, L, embed + attr + value_slots + 1]``."""
        slot = F.one_hot(self.slots(tokens, values), self.config.value_slots + 1).float()
        return torch.cat([self.embed(tokens), attr[:, None].expand(-1, tokens.shape[1], -1), slot], -1)

    def _logit(self, h: Tensor, attr: Tensor) -> Tensor:
        """``h: Tensor[B, ..., H]``, ``attr: Tensor[B, attr]`` → ``Tensor[B, ...]``."""
        a = self.head_a(attr).view(attr.shape[0], *([1] * (h.dim() - 2)), -1)
        return self.out(torch.tanh(self.head_h(h) + a))[..., 0]

    # ------------------------------------------------------------------ teacher-forced (training)
    def sequence_logits(self, ids: Tensor, fields: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        """``ids: LongTensor[B, L]`` (from ``[START]``) → (logits ``Tensor[B, L]`` of p(a | ids[:, ≤t]) for each t,
        states ``Tensor[B, L, H]``)."""
        attr = self.attribute(fields, values)
        h0 = torch.tanh(self.init_proj(attr))[None]
        states, _ = self.gru(self._inputs(ids, attr, values), h0.contiguous())
        return self._logit(states, attr), states

    # ------------------------------------------------------------------ all candidates (decoding)
    def candidate_table(self) -> Tensor:
        """``Tensor[V, 3H]``: the word part of the GRU input projection for every vocabulary entry."""
        e = self.config.embed
        return self.embed.weight @ self.gru.weight_ih_l0[:, :e].T + self.gru.bias_ih_l0

    def candidates(self, h: Tensor, attr: Tensor, values: Tensor, table: Tensor | None = None
                   ) -> tuple[Tensor, Tensor]:
        """One GRU step for every next token: ``h: Tensor[B, H]`` → (logits ``Tensor[B, V]``, states
        ``Tensor[B, V, H]``). ``table`` is :meth:`candidate_table` (pass it to compute it once per call)."""
        c, e, H = self.config, self.config.embed, self.config.hidden
        w = self.gru.weight_ih_l0
        table = self.candidate_table() if table is None else table
        vocab = torch.arange(c.vocab_size, device=h.device).expand(h.shape[0], -1)
        slot_w = w[:, e + c.attr:].T  # [slots + 1, 3H]: row k is slot k's input term
        gi = table[None] + (attr @ w[:, e:e + c.attr].T)[:, None] + slot_w[self.slots(vocab, values)]  # [B, V, 3H]
        gh = (h @ self.gru.weight_hh_l0.T + self.gru.bias_hh_l0)[:, None]  # [B, 1, 3H]
        r = torch.sigmoid(gi[..., :H] + gh[..., :H])
        z = torch.sigmoid(gi[..., H:2 * H] + gh[..., H:2 * H])
        n = torch.tanh(gi[..., 2 * H:] + r * gh[..., 2 * H:])
        states = (1 - z) * n + z * h[:, None]
        return self._logit(states, attr), states

    def forward(self, prefix: Tensor, fields: Tensor, values: Tensor) -> Tensor:
        attr = self.attribute(fields, values)
        _, states = self.sequence_logits(prefix, fields, values)
        return self.candidates(states[:, -1], attr, values)[0]

    # ------------------------------------------------------------------ files
    @classmethod
    def load(cls, directory: str | Path | None = None) -> FutureDiscriminator:
        """The discriminator in ``directory`` (default: the one bundled beside ``e2e-ar-draft``), in eval mode."""
        path = Path(directory) if directory is not None else Path(str(resources.files("ctrlgen").joinpath(
            "assets", *BUNDLED)))
        if not (path / "model.safetensors").is_file():
            raise CheckpointError(f"no FUDGE discriminator in {path} (model.safetensors is missing)",
                                  f"train it: {RECIPE} (writes ctrlgen/assets/e2e-ar-draft/fudge)")
        model, _, _ = load_pretrained(path, cls)
        return model
