"""Errors raised by ctrlgen.

Every error carries a ``hint`` telling the user how to fix the input; the CLI prints
``message`` and ``hint`` and exits non-zero without a traceback.
"""

from __future__ import annotations


class CtrlgenError(Exception):
    """Base class of every error ctrlgen raises on purpose."""

    default_hint = ""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class ConfigError(CtrlgenError):
    """A config file or argument has an unknown key, a wrong type or a bad value."""

    default_hint = "check the value against the documented config fields"


class CheckpointError(CtrlgenError):
    """A checkpoint directory is missing, truncated, corrupted or does not match."""

    default_hint = "pass a directory written by save_pretrained() or a bundled model name"


class HubOfflineError(CheckpointError):
    """A Hugging Face Hub operation that needs the network was asked for with ``HF_HUB_OFFLINE`` set."""


class TrainingStopped(CtrlgenError):
    """Training was stopped by a signal (SIGTERM, Ctrl-C) after writing a checkpoint."""

    default_hint = "run the same command again to resume from that checkpoint"


class DataError(CtrlgenError):
    """An input data file is missing, empty or malformed."""

    default_hint = "E2E data is a CSV with columns 'mr' and 'ref'"


class MRParseError(DataError):
    """An E2E meaning representation could not be parsed."""

    default_hint = "an MR looks like 'name[The Vaults], eatType[pub]'"


class SamplingError(CtrlgenError):
    """Bad sampling arguments (number of samples, steps, seeds)."""


class ConstraintConflictError(CtrlgenError):
    """Two constraints cannot hold together (e.g. they fix one position to different words)."""


class DistributedError(CtrlgenError):
    """Distributed training was misconfigured."""


class UnsupportedOperationError(CtrlgenError):
    """A backend does not serve an operation of the generator contract (``edit`` on a diffusion backend)."""
