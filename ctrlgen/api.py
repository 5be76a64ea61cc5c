"""The public entry point: ``load(name_or_path)`` → the generator of the checkpoint's backend.

```python
import ctrlgen
gen = ctrlgen.load("e2e")                 # bundled default, offline
out = gen.generate(n=8, seed=0)
out.texts
gen.save_pretrained("out/my-e2e")         # everything it runs with, in one directory (core.contract: layout)
ctrlgen.load("owner/name")                # a Hub repo, through the Hugging Face cache (HF_HUB_OFFLINE: cache only)
```
"""

from __future__ import annotations

import os

from ctrlgen.core.contract import Generator
from ctrlgen.core.options import Options
from ctrlgen.errors import CheckpointError, ConfigError
from ctrlgen.models.ar_lm import ARLM
from ctrlgen.models.assets import DEFAULT_MODEL, resolve_model_path
from ctrlgen.models.pretrained import read_config
from ctrlgen.registry import BACKENDS, resolve


def load(name_or_path: str | os.PathLike = DEFAULT_MODEL, *, device: str | None = None,
         dtype: str | None = None, revision: str | None = None) -> Generator:
    """Load a bundled model by name (``"e2e"``, ``"e2e-sedd"``, ``"e2e-edit"``), a checkpoint directory, or a
    Hugging Face Hub repo id ``"owner/name"`` (in that order; :func:`ctrlgen.models.assets.resolve_model_path`:
    through the Hugging Face cache, ``revision`` a branch, tag or commit; with ``HF_HUB_OFFLINE=1`` or no network
    only the cache, else a ``CheckpointError`` saying how to get it). The generator follows the checkpoint's
    ``model_type`` (the backend whose ``BackendSpec.model_types`` has it). ``device`` / ``dtype`` (``"cpu"``,
    ``"cuda:0"``; ``"float32"``, ``"bfloat16"``, ``"float16"``) move the networks after loading; every backend runs
    in all three on CPU (measured with torch 2.13: no op they use lacks a half-precision CPU kernel), and the
    sampling generators are made on the networks' device (``Generator.rng``)."""
    if name_or_path is None or not isinstance(name_or_path, str | os.PathLike):
        raise ConfigError(f"load() takes a model name or a checkpoint directory, got {name_or_path!r}",
                          f"e.g. ctrlgen.load({DEFAULT_MODEL!r}) or ctrlgen.load('path/to/checkpoint')")
    opts = Options(device=device, dtype=dtype)  # validated before anything is read
    path = resolve_model_path(name_or_path, revision=revision)
    mtype = read_config(path)["model_type"]
    spec = BACKENDS.for_model_type(mtype)
    if spec is None:
        served = sorted(t for n in BACKENDS for t in BACKENDS.get(n).model_types)
        raise CheckpointError(f"{path}: model_type {mtype!r} is not a generator",
                              f"generators load: {', '.join(served)} (teacher/draft LMs load with their own classes)")
    try:
        gen: Generator = resolve(spec.generator).from_pretrained(path)
    except CheckpointError:
        raise
    except ConfigError as e:  # a config section the backend refused while building its generator
        raise CheckpointError(f"{path / 'config.json'}: {e.message}", e.hint or None) from None
    if device is not None or dtype is not None:
        gen.to(opts.torch_device(), opts.torch_dtype())
    return gen


def model_class(model_type: str) -> type:
    """The network class of a checkpoint's ``model_type``: a backend's (``BackendSpec.models``) or the shared AR LM
    (``"ar-lm"``: the teacher and the edit backend's draft model). For tools that re-save any checkpoint."""
    if model_type == ARLM.model_type:
        return ARLM
    for name in BACKENDS:
        ref = BACKENDS.get(name).models.get(model_type)
        if ref is not None:
            return resolve(ref)  # type: ignore[no-any-return]
    known = sorted({ARLM.model_type, *(t for n in BACKENDS for t in BACKENDS.get(n).models)})
    raise CheckpointError(f"no network class for model_type {model_type!r}", f"known: {', '.join(known)}")

