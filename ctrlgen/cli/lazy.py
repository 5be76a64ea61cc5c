"""The one table of what the command line imports late: each subcommand's arguments and its run function.

``ctrlgen --help`` and an argument error must answer in well under a second, so nothing heavy (torch, spaCy,
transformers, benepar, nltk, the constraint language) is imported until a command actually runs. The parser
lists every subcommand from this table but imports a subcommand's ``arguments`` only when that subcommand
is named on the command line, and its ``run`` only after the arguments parsed and passed their checks.
The modules named here have module-level imports only; ``tests/test_startup.py`` checks that every reference
resolves and that ``--help`` imports none of the heavy packages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ctrlgen.registry import resolve


@dataclass(frozen=True)
class Command:
    """One ``ctrlgen`` subcommand."""

    help: str  # one line for ``ctrlgen --help``
    arguments: str  # "module:function(parser)": adds the subcommand's arguments (torch-free for generate/infill)
    run: str  # "module:function(args) -> exit status": the command itself (may import anything)


_ARGS = "ctrlgen.cli.arguments"
COMMANDS: dict[str, Command] = {
    "generate": Command("sample texts from a model (bundled default if --model is not given)",
                        f"{_ARGS}:generate_arguments", "ctrlgen.cli.generate:run_generate"),
    "infill": Command("fill the [MASK] / [MASK:k] holes of a template (best by MBR first)",
                      f"{_ARGS}:infill_arguments", "ctrlgen.cli.generate:run_infill"),
    "edit": Command("revise a text toward constraints with few changes (edit backend)",
                    f"{_ARGS}:edit_arguments", "ctrlgen.cli.edit:run"),
    "describe": Command("describe a whole meaning representation, e.g. 'name[The Vaults], food[Japanese]' (best first)",
                        "ctrlgen.cli.describe:describe_arguments", "ctrlgen.cli.describe:run"),
    "train": Command("train a model from a TOML config (resumes from output_dir/latest)",
                     f"{_ARGS}:train_arguments", "ctrlgen.cli.train:run"),
    "env": Command("print versions, bundled models and settings", f"{_ARGS}:env_arguments", "ctrlgen.cli.env:run"),
    "evaluate": Command("score control tasks like the Diffusion-LM paper (docs/metrics.md)",
                        "ctrlgen.cli.evaluate:evaluate_arguments", "ctrlgen.cli.evaluate:cmd_evaluate"),
    "build-targets": Command("build control targets from held-out E2E references",
                             "ctrlgen.cli.evaluate:build_targets_arguments", "ctrlgen.cli.evaluate:cmd_build_targets"),
    "train-classifier": Command("train a noise-aware classifier beside a model",
                                "ctrlgen.cli.train_classifier:add_arguments", "ctrlgen.cli.train_classifier:run"),
    "finetune": Command("fine-tune a checkpoint through accelerate, optionally with LoRA (ctrlgen[finetune])",
                        "ctrlgen.cli.finetune:finetune_arguments", "ctrlgen.cli.finetune:run"),
}


def load(ref: str) -> Any:
    """``"module:function"`` from :data:`COMMANDS` → the function (imports its module now)."""
    return resolve(ref)
