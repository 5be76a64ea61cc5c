"""The model types fine-tuning serves: how each is loaded, which loss trains it (its backend's own objective, called,
never copied) and which modules LoRA adapts by default.

- ``llada``: a ctrlgen masked checkpoint (``e2e-masked``) or a reference ``GSAI-ML/LLaDA-*`` directory; the masked
  backend's ``MaskedObjective``; LoRA on q_proj, k_proj, v_proj, attn_out;
- ``sedd-score``: a ctrlgen discrete checkpoint (``e2e-sedd``); the discrete backend's ``DiscreteObjective``
  (DWDSE); LoRA on qkv, proj (with ``attention = "bert"``: query, key, value, attention.output.dense);
- ``embedding-lm``: a ctrlgen embedding checkpoint (``e2e``); the embedding backend's ``EmbeddingObjective``;
  LoRA targets as ``sedd-score``;
- ``sedd`` / ``mdlm``: a reference ``louaaron/sedd-*`` / ``kuleshov-group/mdlm-*`` directory, as the discrete
  backend runs it (``PretrainedScore``: MDLM's SUBS probabilities as ratios); ``DiscreteObjective``; LoRA on
  attn_qkv, attn_out.

A reference directory (SEDD / MDLM / LLaDA) has no ctrlgen tokenizer: it is fine-tuned on token ids
(``LongTensor[N, L]``; LLaDA with the default ``MaskedDiffusionConfig``) and written back in its own layout
(``config.json`` + ``model.safetensors``, loadable with
:func:`~ctrlgen.backends.discrete.pretrained.load_pretrained_score` / ``LLaDAModel.from_reference``) with
:data:`FINETUNE_RECORD` beside it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from ctrlgen.backends.discrete.diffusion import (
    DiscreteDiffusion,
    DiscreteDiffusionConfig,
    DiscreteObjective,
)
from ctrlgen.backends.discrete.pretrained import load_pretrained_score
from ctrlgen.backends.embedding.diffusion import (
    DiffusionConfig,
    EmbeddingObjective,
    GaussianDiffusion,
)
from ctrlgen.backends.masked.diffusion import (
    MaskedDiffusion,
    MaskedDiffusionConfig,
    MaskedObjective,
)
from ctrlgen.errors import CheckpointError
from ctrlgen.models.assets import resolve_model_path
from ctrlgen.models.dit.checkpoint import read_config as read_json_config
from ctrlgen.models.llada.model import LLaDAModel
from ctrlgen.models.pretrained import (
    CONFIG_FILE,
    config_section,
    load_pretrained,
    read_config,
)
from ctrlgen.models.reference_weights import reference_architecture
from ctrlgen.registry import BACKENDS, resolve
from ctrlgen.text.base import BaseTokenizer

FINETUNE_RECORD = "ctrlgen_finetune.json"  # beside a fine-tuned reference checkpoint: what it was trained from


@dataclass
class Base:
    """A checkpoint to fine-tune, loaded."""

    model: nn.Module  # the network (reference SEDD / MDLM: a PretrainedScore around it; LLaDA: LLaDAModel)
    tokenizer: BaseTokenizer | None  # None for a reference directory: it trains on token ids
    config: dict[str, Any]  # the parsed config.json
    path: Path  # the checkpoint directory
    model_type: str  # a ctrlgen model type, or "sedd" / "mdlm" / "llada" for a reference directory
    seq_len: int  # the length rows are encoded at (reference: the model's length)
    diffusion: Any = None  # reference directories: the diffusion (SEDD / MDLM: read from the checkpoint)

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer) if self.tokenizer is not None else int(self.model.config.vocab_size)


def _masked(net: nn.Module, base: Base) -> nn.Module:
    if base.diffusion is not None:  # a reference LLaDA directory
        return MaskedObjective(net, base.diffusion)
    dcfg = config_section(base.path, base.config, "diffusion", MaskedDiffusionConfig)
    return MaskedObjective(net, MaskedDiffusion(int(base.model.mask_id), dcfg))


def _discrete(net: nn.Module, base: Base) -> nn.Module:
    dcfg = config_section(base.path, base.config, "diffusion", DiscreteDiffusionConfig)
    graph = base.model.config.graph
    if (dcfg.graph == "absorbing") != (graph == "absorbing"):
        raise CheckpointError(f"{base.path / CONFIG_FILE}: model.graph {graph!r} does not match diffusion.graph "
                              f"{dcfg.graph!r}", "retrain or fix the config")
    tok = base.tokenizer
    assert tok is not None
    return DiscreteObjective(net, DiscreteDiffusion.from_config(dcfg, len(tok), tok.vocab.mask_id))


def _embedding(net: nn.Module, base: Base) -> nn.Module:
    return EmbeddingObjective(net, GaussianDiffusion.from_config(
        config_section(base.path, base.config, "diffusion", DiffusionConfig)))


def _reference_discrete(net: nn.Module, base: Base) -> nn.Module:
    return DiscreteObjective(net, base.diffusion)


SDPA_TARGETS = ("qkv", "proj")  # models/backbone.py Block
BERT_TARGETS = ("query", "key", "value", "attention.output.dense")  # transformers' BertEncoder
DIT_TARGETS = ("attn_qkv", "attn_out")  # models/dit DDiTBlock (SEDD and MDLM)


def _backbone_targets(model: nn.Module) -> tuple[str, ...]:
    return BERT_TARGETS if getattr(model.config, "attention", "sdpa") == "bert" else SDPA_TARGETS


#: model type → ``objective(net, base)``: an ``nn.Module`` whose ``forward(ids, generator)`` returns
#: ``{"loss": Tensor[B]}`` (``net`` is the model, perhaps wrapped in LoRA adapters)
OBJECTIVES: dict[str, Callable[[nn.Module, Base], nn.Module]] = {
    "llada": _masked, "sedd-score": _discrete, "embedding-lm": _embedding,
    "sedd": _reference_discrete, "mdlm": _reference_discrete,
}
#: model type → the attention projections LoRA adapts by default (module name suffixes, as peft matches them)
LORA_TARGETS: dict[str, Callable[[nn.Module], tuple[str, ...]]] = {
    "llada": lambda m: ("q_proj", "k_proj", "v_proj", "attn_out"),
    "sedd-score": _backbone_targets, "embedding-lm": _backbone_targets,
    "sedd": lambda m: DIT_TARGETS, "mdlm": lambda m: DIT_TARGETS,
}


def load_base(name_or_path: Any) -> Base:
    """The checkpoint ``name_or_path`` (bundled name, ctrlgen checkpoint or reference SEDD / MDLM directory) whose
    model type is in :data:`OBJECTIVES`; anything else is a ``CheckpointError`` naming ``model_type``."""
    path = resolve_model_path(name_or_path)
    arch = reference_architecture(read_json_config(path))
    if arch == "llada":
        llada = LLaDAModel.from_reference(path)
        return Base(llada, None, read_json_config(path), path, arch, llada.config.max_sequence_length,
                    MaskedDiffusion(llada.mask_id, MaskedDiffusionConfig()))
    if arch is not None:
        score, diffusion = load_pretrained_score(path)
        return Base(score, None, read_json_config(path), path, arch, score.config.seq_len, diffusion)
    mtype = read_config(path)["model_type"]
    if mtype not in OBJECTIVES:
        raise CheckpointError(f"{path / CONFIG_FILE}: field model_type = {mtype!r} cannot be fine-tuned yet",
                              f"fine-tuning serves model types {', '.join(sorted(OBJECTIVES))}")
    cls = next(resolve(s.models[mtype]) for s in map(BACKENDS.get, BACKENDS) if mtype in s.models)
    model, tok, cfg = load_pretrained(path, cls)
    return Base(model, tok, cfg, path, mtype, int(model.config.seq_len))


def config_digest(directory: Path) -> str:
    """sha256 of a checkpoint's ``config.json`` bytes (a ctrlgen checkpoint's seal covers weights and tokenizer)."""
    return hashlib.sha256((Path(directory) / CONFIG_FILE).read_bytes()).hexdigest()


def write_reference(model: nn.Module, base: Base, out: Path, record: dict[str, Any]) -> None:
    """Write a fine-tuned reference network (``PretrainedScore.net``) in its own layout: the base's JSON files
    (``config.json`` …), ``model.safetensors`` and :data:`FINETUNE_RECORD`."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    for f in base.path.glob("*.json"):
        if not f.name.endswith(".index.json") and f.name != FINETUNE_RECORD:
            shutil.copyfile(f, out / f.name)
    net = getattr(model, "net", model)
    save_file({k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}, str(out / "model.safetensors"))
    (out / FINETUNE_RECORD).write_text(json.dumps(record, indent=2))
