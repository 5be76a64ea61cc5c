"""Checkpoints that verify themselves: digests written at save, checked at load.

``save_pretrained`` adds an ``"integrity"`` table to ``config.json``:

- ``weights_sha256``: the SHA-256 of ``model.safetensors`` as written;
- ``tokenizer_sha256``: the SHA-256 of ``tokenizer.json``;
- ``fields``: for every field of the training-relevant sections (:data:`SEALED`, flattened to dotted names such as
  ``diffusion.steps``), a short digest of its JSON value.

``load_pretrained`` recomputes them: a weights or tokenizer file whose bytes changed, or a config field edited
after training (say ``diffusion.steps`` 2000 → 500, which would make the sampler use a schedule the model never
saw), raises :class:`~ctrlgen.errors.CheckpointError` naming the file or the field — instead of loading and
writing word salad. A checkpoint without the table (written before this check existed) still loads, with a
warning; :func:`seal_directory` adds the table to such a checkpoint once its owner trusts it. Independently of
the digests, :func:`check_finite` refuses weights that hold NaN or infinity.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ctrlgen.errors import CheckpointError
from ctrlgen.text.base import TOKENIZER_CONFIG_FILE

log = logging.getLogger(__name__)

#: config.json sections whose every field is sealed (what the weights were trained with and on)
SEALED = ("model", "diffusion", "data", "training")
_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """``"sha256:<hex>"`` of a file's bytes (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return f"sha256:{h.hexdigest()}"


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping) and value:
        for k, v in value.items():
            _flatten(f"{prefix}.{k}", v, out)
    else:
        out[prefix] = value


def field_digests(cfg: Mapping[str, Any]) -> dict[str, str]:
    """Dotted field name → the first 16 hex digits of the SHA-256 of its canonical JSON value."""
    flat: dict[str, Any] = {}
    for section in SEALED:
        if section in cfg:
            _flatten(section, cfg[section], flat)
    return {k: hashlib.sha256(json.dumps(v, sort_keys=True).encode()).hexdigest()[:16] for k, v in sorted(flat.items())}



def seal(cfg: Mapping[str, Any], weights: Path, tokenizer: Path) -> dict[str, Any]:
    """The ``"integrity"`` table for ``cfg`` and the files as they are now."""
    table = {"weights_sha256": file_sha256(weights), "tokenizer_sha256": file_sha256(tokenizer),
             "fields": field_digests(cfg)}
    side = tokenizer.with_name(TOKENIZER_CONFIG_FILE)
    if side.is_file():  # the tokenizer's kind and word-level detokenisation rules live there
        table["tokenizer_config_sha256"] = file_sha256(side)
    return table


def verify(cfg: Mapping[str, Any], directory: Path, weights: Path, tokenizer: Path) -> None:
    """Check ``cfg["integrity"]`` against the files and the config (a missing table: a warning, see the module doc).
    Raises :class:`CheckpointError` naming what changed."""
    table = cfg.get("integrity")
    config = directory / "config.json"
    if table is None:
        log.warning("%s has no integrity digests (written by an older ctrlgen?): loading it unverified; "
                    "ctrlgen.models.integrity.seal_directory() adds them", config)
        return
    if not isinstance(table, Mapping) or not {"weights_sha256", "tokenizer_sha256", "fields"} <= set(table):
        raise CheckpointError(f"{config}: the 'integrity' table is malformed", "restore config.json from the checkpoint")
    for f in (weights, tokenizer):
        if not f.is_file():
            raise CheckpointError(f"{f} is missing", "a checkpoint directory holds config.json, model.safetensors "
                                  "and tokenizer.json")
    if file_sha256(weights) != table["weights_sha256"]:
        raise CheckpointError(f"{weights} does not match the digest in config.json: the weights were corrupted or "
                              "replaced after saving", "re-download or re-train the checkpoint")
    if file_sha256(tokenizer) != table["tokenizer_sha256"]:
        raise CheckpointError(f"{tokenizer} does not match the digest in config.json (changed after saving)",
                              "restore the tokenizer the model was trained with")
    side = tokenizer.with_name(TOKENIZER_CONFIG_FILE)
    if "tokenizer_config_sha256" in table and (not side.is_file() or file_sha256(side) != table["tokenizer_config_sha256"]):
        raise CheckpointError(f"{side} is missing or does not match the digest in config.json (changed after saving)",
                              "restore the tokenizer files the model was trained with")
    got, want = field_digests(cfg), dict(table["fields"])
    changed = sorted(k for k in set(got) & set(want) if got[k] != want[k])
    added, removed = sorted(set(got) - set(want)), sorted(set(want) - set(got))
    if changed or added or removed:
        parts = ([f"changed: {', '.join(changed)}"] if changed else []) + \
                ([f"added: {', '.join(added)}"] if added else []) + ([f"removed: {', '.join(removed)}"] if removed else [])
        raise CheckpointError(f"{config}: fields differ from the ones the weights were trained with ({'; '.join(parts)})",
                              "restore the original values: the model only works with the schedule and sizes it "
                              "was trained with (sampling options such as steps belong in the call, not the config)")


def check_finite(state: Mapping[str, torch.Tensor], weights: Path) -> None:
    """Refuse weights with NaN or infinity: ``CheckpointError`` naming the first such tensor."""
    for name, t in state.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise CheckpointError(f"{weights}: tensor {name!r} holds {bad} non-finite values (NaN or inf)",
                                  "the checkpoint is broken (training diverged or the file was damaged); "
                                  "use an earlier checkpoint")


def seal_directory(directory: str | Path) -> dict[str, Any]:
    """Add (or renew) the ``"integrity"`` table of a checkpoint directory from its files as they are now — for
    checkpoints written before digests existed. Returns the table."""
    d = Path(directory)
    config = d / "config.json"
    cfg = json.loads(config.read_text())
    cfg.pop("integrity", None)
    cfg["integrity"] = seal(cfg, d / "model.safetensors", d / "tokenizer.json")
    config.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n")
    return cfg["integrity"]
