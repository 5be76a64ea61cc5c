"""A file cache of a built-in classifier's encoded training data (``ctrlgen train-classifier --prepared``).

Silver POS tags and parse trees take minutes to build and need the oracles (spaCy, benepar); the cache
holds everything ``create`` + ``make_data`` derived from the data, so a classifier can be trained again
(another size, another machine, a GPU box without the oracles) from the file alone.

Contents: a safetensors file whose metadata holds, as JSON, ``key`` (classifier name, sequence length, vocabulary
hash, SHA-256 prefixes of the data files, creation-only options such as ``min_count``), ``data_hparams`` (the
constructor arguments that came from the data: value sets, labels, shapes) and the layout of ``sets``
(``train``/``valid`` ids and targets, integer tensors in the narrowest dtype that holds them, stored as the file's
tensors; :func:`ctrlgen.training.state.encode`). Nothing in it is pickled, so reading one runs no code; a file in
the old format (a gzipped ``torch.save``) is refused with a hint to rebuild it.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor

from ctrlgen.constraints.plugin import ClassifierData, NoiseAwareClassifier
from ctrlgen.errors import ConfigError
from ctrlgen.training.state import decode, encode

logger = logging.getLogger(__name__)
_FORMAT = "ctrlgen.prepared-classifier-data.v2"


def size_options(klass: type[NoiseAwareClassifier]) -> set[str]:
    """Keyword options of ``klass.create`` (sizes, thresholds); everything else in hparams came from data."""
    return {n for n, p in inspect.signature(klass.create).parameters.items() if p.kind == p.KEYWORD_ONLY}


def cache_key(klass: type[NoiseAwareClassifier], name: str, files: dict[str, Path], context: Any,
              options: dict[str, Any]) -> dict[str, Any]:
    def sha(p: Path) -> str:
        return hashlib.sha256(p.read_bytes()).hexdigest()[:16]

    init = set(inspect.signature(klass.__init__).parameters)
    creation_only = {k: v for k, v in sorted(options.items()) if k not in init}  # e.g. min_count shapes labels
    vocab = hashlib.sha256("\n".join(context.tokenizer.vocab.words).encode()).hexdigest()[:16]
    return {"classifier": name, "seq_len": context.seq_len, "vocab": vocab, "creation_options": creation_only,
            **{k: sha(p) for k, p in files.items()}}


def _narrow(t: Any) -> Any:
    if isinstance(t, tuple):
        return [_narrow(x) for x in t]
    if t.is_floating_point() or t.numel() == 0:
        return t
    for dtype in (torch.int8, torch.int16, torch.int32):
        if torch.iinfo(dtype).min <= int(t.min()) and int(t.max()) <= torch.iinfo(dtype).max:
            return t.to(dtype)
    return t


def _widen(t: Any) -> Tensor | tuple[Tensor, ...]:
    if isinstance(t, list):
        return tuple(x if x.is_floating_point() else x.long() for x in t)
    return t if t.is_floating_point() else t.long()


def save(path: str | Path, key: dict[str, Any], classifier: NoiseAwareClassifier,
         sets: dict[str, ClassifierData]) -> None:
    """Write the cache atomically."""
    sizes = size_options(type(classifier))
    tensors: dict[str, Tensor] = {}
    layout = encode({k: {"ids": _narrow(d.ids), "targets": _narrow(d.targets)} for k, d in sets.items()}, "sets",
                    tensors)
    body = {"format": _FORMAT, "key": key, "sets": layout,
            "data_hparams": {k: v for k, v in classifier.hparams.items() if k not in sizes}}
    tmp = Path(str(path) + ".tmp")
    save_file(tensors, str(tmp), metadata={"prepared": json.dumps(body)})
    tmp.replace(path)


def load(path: str | Path, key: dict[str, Any], klass: type[NoiseAwareClassifier],
         options: dict[str, Any]) -> tuple[NoiseAwareClassifier, dict[str, ClassifierData]] | None:
    """``(new classifier, sets)`` from the cache, or None when ``path`` does not exist; a cache built for
    other data, another tokenizer or other creation options raises."""
    if not Path(path).is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as fh:
            body = json.loads((fh.metadata() or {}).get("prepared", "null"))
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (a safetensors handle, not a dict)
    except (OSError, ValueError, RuntimeError, SafetensorError) as e:
        raise ConfigError(f"--prepared {path} is not a prepared-data file ({e})", "delete it; it is rebuilt") from None
    if not isinstance(body, dict) or body.get("format") != _FORMAT:
        raise ConfigError(f"--prepared {path} is not a prepared-data file of this version", "delete it; it is rebuilt")
    blob = {**body, "sets": decode(body["sets"], tensors)}
    if blob.get("key") != json.loads(json.dumps(key)):
        raise ConfigError(f"--prepared {path} was built for {blob.get('key')}, not {key}",
                          "delete it (it is rebuilt) or pass another file")
    init = set(inspect.signature(klass.__init__).parameters)
    classifier = klass(**blob["data_hparams"], **{k: v for k, v in options.items() if k in init})
    sets = {k: ClassifierData(v["ids"].long(), _widen(v["targets"])) for k, v in blob["sets"].items()}
    logger.info("prepared data read from %s", path)
    return classifier, sets
