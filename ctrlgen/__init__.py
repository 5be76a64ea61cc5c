# ruff: noqa: F401 — the names below are re-exported lazily through __getattr__ and __all__
"""ctrlgen: controllable text generation and editing with diffusion language models.

```python
import ctrlgen
gen = ctrlgen.load("e2e")          # bundled default Diffusion-LM model, offline
print(gen.generate(n=4, seed=0).texts)
```

The public names are imported on first use (PEP 562), so that importing a submodule such as
``ctrlgen.cli`` or ``ctrlgen.registry`` costs no torch (``ctrlgen --help`` answers at once).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ctrlgen.version import __version__

#: public name -> the module that defines it (imported on first attribute access)
_EXPORTS: dict[str, str] = {
    "load": "ctrlgen.api",
    "EmbeddingGenerator": "ctrlgen.backends.embedding.generator",
    "GuidanceConfig": "ctrlgen.backends.embedding.guidance",
    "ConstraintError": "ctrlgen.constraints.base",
    "Classifier": "ctrlgen.constraints.classifier",
    "Contains": "ctrlgen.constraints.contains",
    "ModelContext": "ctrlgen.constraints.fingerprint",
    "ModelFingerprint": "ctrlgen.constraints.fingerprint",
    "FixedTokens": "ctrlgen.constraints.infill",
    "Infill": "ctrlgen.constraints.infill",
    "Prefix": "ctrlgen.constraints.infill",
    "Suffix": "ctrlgen.constraints.infill",
    "Length": "ctrlgen.constraints.length",
    "MR": "ctrlgen.constraints.mr",
    "CLASSIFIERS": "ctrlgen.constraints.plugin",
    "ClassifierData": "ctrlgen.constraints.plugin",
    "NoiseAwareClassifier": "ctrlgen.constraints.plugin",
    "load_classifier": "ctrlgen.constraints.plugin",
    "register_classifier": "ctrlgen.constraints.plugin",
    "POS": "ctrlgen.constraints.pos",
    "SemanticField": "ctrlgen.constraints.semantic",
    "SyntaxSpans": "ctrlgen.constraints.syntax",
    "SyntaxTree": "ctrlgen.constraints.syntax",
    "GenerationOutput": "ctrlgen.core.output",
    "CheckpointError": "ctrlgen.errors",
    "ConfigError": "ctrlgen.errors",
    "ConstraintConflictError": "ctrlgen.errors",
    "CtrlgenError": "ctrlgen.errors",
    "DataError": "ctrlgen.errors",
    "HubOfflineError": "ctrlgen.errors",
    "MRParseError": "ctrlgen.errors",
    "SamplingError": "ctrlgen.errors",
    "UnsupportedOperationError": "ctrlgen.errors",
    "Generator": "ctrlgen.core.contract",
    "Options": "ctrlgen.core.options",
    "Request": "ctrlgen.core.requests",
    "evaluate_classifier": "ctrlgen.training.classifiers",
    "fit_classifier": "ctrlgen.training.classifiers",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ctrlgen' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain lookup
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # static checkers and IDEs see the real names
    from ctrlgen.api import load
    from ctrlgen.backends.embedding.generator import EmbeddingGenerator
    from ctrlgen.backends.embedding.guidance import GuidanceConfig
    from ctrlgen.constraints.base import ConstraintError
    from ctrlgen.constraints.classifier import Classifier
    from ctrlgen.constraints.contains import Contains
    from ctrlgen.constraints.fingerprint import ModelContext, ModelFingerprint
    from ctrlgen.constraints.infill import FixedTokens, Infill, Prefix, Suffix
    from ctrlgen.constraints.length import Length
    from ctrlgen.constraints.mr import MR
    from ctrlgen.constraints.plugin import (
        CLASSIFIERS,
        ClassifierData,
        NoiseAwareClassifier,
        load_classifier,
        register_classifier,
    )
    from ctrlgen.constraints.pos import POS
    from ctrlgen.constraints.semantic import SemanticField
    from ctrlgen.constraints.syntax import SyntaxSpans, SyntaxTree
    from ctrlgen.core.contract import Generator
    from ctrlgen.core.options import Options
    from ctrlgen.core.output import GenerationOutput
    from ctrlgen.core.requests import Request
    from ctrlgen.errors import (
        CheckpointError,
        ConfigError,
        ConstraintConflictError,
        CtrlgenError,
        DataError,
        HubOfflineError,
        MRParseError,
        SamplingError,
        UnsupportedOperationError,
    )
    from ctrlgen.training.classifiers import evaluate_classifier, fit_classifier
