"""``ctrlgen env``: versions, the bundled models (``ctrlgen.models.assets.MODELS``), the registered backends and
settings — what a bug report needs."""

from __future__ import annotations

import argparse
import importlib
import os
import platform

import torch

from ctrlgen.errors import CtrlgenError
from ctrlgen.models.assets import MODELS, resolve_model_path
from ctrlgen.registry import BACKENDS
from ctrlgen.version import __version__

OPTIONAL = ("transformers", "spacy", "safetensors", "nltk", "numpy")  # reported when installed


def run(args: argparse.Namespace) -> int:
    """``ctrlgen env``."""
    print(f"ctrlgen {__version__}")
    print(f"python {platform.python_version()} on {platform.platform()}")
    print(f"torch {torch.__version__} (cuda available: {torch.cuda.is_available()}, threads: {torch.get_num_threads()})")
    for name in OPTIONAL:
        try:
            print(f"{name} {importlib.import_module(name).__version__}")
        except ImportError:
            print(f"{name} not installed")
    for name in MODELS:
        try:
            print(f"model {name}: {resolve_model_path(name)}")
        except CtrlgenError as e:
            print(f"model {name}: MISSING ({e.message})")
    for name in BACKENDS:
        spec = BACKENDS.get(name)
        print(f"backend {name}: default model {spec.default_model}, {spec.default_steps} steps")
    print(f"CTRLGEN_DATA={os.environ.get('CTRLGEN_DATA', '(unset)')}")
    return 0
