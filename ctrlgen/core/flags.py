"""The small protocol by which a backend adds its own command-line flags (``BackendSpec.cli = "module:FLAGS"``).

A backend's ``flags.py`` defines ``FLAGS``, an object with :meth:`BackendFlags.add_arguments` (its flags, added
to ``ctrlgen generate`` / ``infill`` under a group named after the backend) and :meth:`BackendFlags.to_kwargs`
(the generator keyword arguments those flags mean, e.g. a sampler object). The module stays torch-free: the
CLI imports it to build ``--help``; ``to_kwargs`` resolves what it needs only when a command runs.

Every flag's default must be ``None`` (``store_true`` flags: ``default=None`` too) so that "was it given?" is
``value is not None``: the CLI refuses a flag of one backend passed to another ("--beam is for the edit backend").
"""

from __future__ import annotations

import argparse
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class BackendFlags(Protocol):
    """A backend's command-line flags and their meaning as generator keyword arguments."""

    def add_arguments(self, parser: argparse._ActionsContainer) -> None:
        """Add this backend's flags (each with ``default=None``) to ``parser`` (an argument group)."""

    def to_kwargs(self, args: argparse.Namespace) -> dict[str, Any]:
        """The generator keyword arguments for ``args`` (its own flags, and the shared ``args.guidance_scale``:
        None when not given); an empty dict leaves every default to the generator."""
