"""Bundled models: a name → a folder under ``ctrlgen/assets``, and the lookup of a name or a checkpoint directory.

```python
from ctrlgen.models.assets import resolve_model_path
resolve_model_path("e2e")          # the bundled Diffusion-LM checkpoint's folder
```
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from ctrlgen.errors import CheckpointError
from ctrlgen.registry import Registry

#: Bundled models: name → folder under ``ctrlgen/assets``.
MODELS: Registry[str] = Registry("model")
MODELS.register("e2e", "e2e")
MODELS.register("e2e-teacher-1", "e2e-teacher-1")  # the fixed teacher LM of the lm-score (evaluation.teacher)
MODELS.register("e2e-ar-draft", "e2e-ar-draft")  # AR draft model for the edit backend (not the teacher)
MODELS.register("e2e-edit", "e2e-edit")  # DiffusER tagger + generator (edit backend)
MODELS.register("e2e-sedd", "e2e-sedd")  # SEDD score model (discrete backend), see its README
DEFAULT_MODEL = "e2e"


def resolve_model_path(name_or_path: str | os.PathLike) -> Path:
    """A bundled model name or a checkpoint directory → the directory."""
    if not str(name_or_path).strip():  # Path("") is ".", the current directory: never what was meant
        raise CheckpointError("the model name is empty",
                              f"bundled models: {', '.join(MODELS)}; or pass a directory written by save_pretrained()")
    p = Path(name_or_path)
    if p.is_dir():
        return p
    if isinstance(name_or_path, str) and name_or_path in MODELS:
        path = Path(str(resources.files("ctrlgen") / "assets" / MODELS.get(name_or_path)))
        if not (path / "config.json").is_file():
            raise CheckpointError(f"bundled model {name_or_path!r} is missing from {path}",
                                  "reinstall ctrlgen; the wheel ships ctrlgen/assets")
        return path
    raise CheckpointError(f"no model named {str(name_or_path)!r} and no such directory",
                          f"bundled models: {', '.join(MODELS)}; or pass a directory written by save_pretrained()")
