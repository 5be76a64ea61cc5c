"""Every ctrlgen network is a ``huggingface_hub.PyTorchModelHubMixin``: ``save_pretrained`` / ``from_pretrained`` /
``push_to_hub`` in the ecosystem's layout, through ctrlgen's own writer and reader.

```python
from ctrlgen.backends.embedding.model import EmbeddingLM
model = EmbeddingLM.from_pretrained("e2e")           # bundled name, directory or Hub repo id (owner/name)
model.save_pretrained("out/e2e-copy")                # config.json + model.safetensors + tokenizer.json, sealed
```

**Delegation.** :meth:`HubMixin._save_pretrained` is :func:`ctrlgen.models.pretrained.save_pretrained` (atomic write,
integrity seal) and :meth:`HubMixin._from_pretrained` is :func:`~ctrlgen.models.pretrained.load_pretrained` (every
``CheckpointError`` check: model_type, fields, digests, shapes, finite weights, tokenizer size). The mixin's
``config.json`` and model card are not used: ctrlgen writes its own ``config.json`` (``model_type``, ``model``,
sections, ``integrity``). :meth:`HubMixin.save_pretrained` writes straight into the atomic writer (the mixin's
default first deletes ``config.json``, which would break the promise that a failed save leaves the old checkpoint).

**Tokenizer and sections.** A network does not own its tokenizer; a loaded one carries it (``hub_tokenizer``) and
its config sections (``hub_extra``: diffusion schedule, data fingerprint, ...) from
:func:`~ctrlgen.models.pretrained.attach`, so ``from_pretrained`` → ``save_pretrained`` writes the same checkpoint.
A fresh network needs ``save_pretrained(dir, tokenizer=...)`` (and ``extra=``) or an ``attach`` first.

**Pushing.** ``push_to_hub`` refuses at once with :class:`HubOfflineError` when ``HF_HUB_OFFLINE`` is set; other Hub
failures are :class:`~ctrlgen.errors.CheckpointError` with the Hub's message.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import torch
from huggingface_hub import PyTorchModelHubMixin

from ctrlgen.errors import CheckpointError, HubOfflineError
from ctrlgen.models.assets import (
    MODELS,
    hf_offline,
    hub_snapshot,
    is_repo_id,
    resolve_model_path,
)
from ctrlgen.models.pretrained import load_pretrained, save_pretrained

REPO_URL = "https://github.com/ctrlgen/ctrlgen"


def check_online(action: str) -> None:
    """Raise :class:`HubOfflineError` for ``action`` when ``HF_HUB_OFFLINE`` is set."""
    if hf_offline():
        raise HubOfflineError(f"cannot {action}: HF_HUB_OFFLINE is set, so the Hugging Face Hub is not contacted",
                              "unset HF_HUB_OFFLINE on a machine with a network, or save_pretrained(directory) and "
                              "upload the folder later (`hf upload owner/name directory`)")


def upload_folder(folder: Path, repo_id: str, *, private: bool | None = None, token: str | None = None,
                  commit_message: str = "Upload ctrlgen checkpoint", branch: str | None = None,
                  create_pr: bool | None = None) -> str:
    """Create ``repo_id`` (if need be) and upload ``folder`` in one commit; returns the commit URL."""
    check_online(f"push to {repo_id!r}")
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    try:
        api = HfApi(token=token)
        repo = api.create_repo(repo_id=repo_id, private=private, exist_ok=True).repo_id
        return str(api.upload_folder(repo_id=repo, folder_path=folder, commit_message=commit_message,
                                     revision=branch, create_pr=create_pr))
    except (HfHubHTTPError, OSError, ValueError) as e:
        raise CheckpointError(f"could not push to Hub repo {repo_id!r}: {e}",
                              "log in with `hf auth login` (a write token) and check the network") from None


class HubMixin(PyTorchModelHubMixin, library_name="ctrlgen", tags=["ctrlgen", "diffusion-lm"], repo_url=REPO_URL):
    """The Hub mixin of ctrlgen's networks (``class EmbeddingLM(nn.Module, HubMixin)``); the class sets
    ``model_type`` and ``config_class`` (the checkpoint's ``"model"`` table)."""

    model_type: ClassVar[str]
    config_class: ClassVar[type]
    hub_tokenizer: Any = None  # set by load / attach: the tokenizer saved beside the weights
    hub_extra: dict[str, Any] | None = None  # set by load / attach: the config.json sections saved with them

    def save_pretrained(self, save_directory: str | os.PathLike, *, tokenizer: Any = None,  # type: ignore[override]
                        extra: dict[str, Any] | None = None, dtype: torch.dtype | None = None,
                        write_extra: Callable[[Path], None] | None = None, push_to_hub: bool = False,
                        repo_id: str | None = None, config: Any = None, model_card_kwargs: Any = None,
                        **push_kwargs: Any) -> Path | str:
        """Write the checkpoint atomically (:func:`ctrlgen.models.pretrained.save_pretrained`); ``tokenizer`` and
        ``extra`` default to the attached ones. With ``push_to_hub`` the folder is then uploaded to ``repo_id``
        (default: the folder's name) and the commit URL returned; else the directory. ``config`` and
        ``model_card_kwargs`` (the mixin's) are ignored: ctrlgen writes its own config.json."""
        tok = tokenizer if tokenizer is not None else self.hub_tokenizer
        if tok is None:
            raise CheckpointError(f"{type(self).__name__}.save_pretrained needs the tokenizer it was trained with",
                                  "pass save_pretrained(directory, tokenizer=...), or load the model with "
                                  "from_pretrained (which keeps it)")
        sections = extra if extra is not None else (self.hub_extra or {})
        target = save_pretrained(save_directory, self, tok, sections, dtype=dtype,  # type: ignore[arg-type]
                                 write_extra=write_extra)
        if push_to_hub:
            return upload_folder(target, repo_id or target.name, **push_kwargs)
        return target

    def _save_pretrained(self, save_directory: Path) -> None:
        """The mixin's hook: the attached tokenizer and sections, written by ctrlgen's writer."""
        self.save_pretrained(save_directory)

    def push_to_hub(self, repo_id: str, *, private: bool | None = None, token: str | None = None,  # type: ignore[override]
                    commit_message: str = "Upload ctrlgen checkpoint", branch: str | None = None,
                    create_pr: bool | None = None, **_: Any) -> str:
        """Save into a temporary folder and upload it to ``repo_id`` (:class:`HubOfflineError` offline)."""
        check_online(f"push to {repo_id!r}")
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(self.save_pretrained(Path(tmp) / "checkpoint"))
            return upload_folder(folder, repo_id, private=private, token=token, commit_message=commit_message,
                                 branch=branch, create_pr=create_pr)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *,  # type: ignore[override]
                        revision: str | None = None, cache_dir: str | os.PathLike | None = None,
                        local_files_only: bool | None = None, token: str | bool | None = None,
                        force_download: bool = False, **model_kwargs: Any) -> Any:
        """Load a bundled name, a directory or a Hub repo id (resolved through the Hugging Face cache first, with
        ctrlgen's errors), then the mixin's ``from_pretrained`` on the local folder → :meth:`_from_pretrained`.
        ``map_location`` (a device) moves the loaded network."""
        name = pretrained_model_name_or_path
        if isinstance(name, str) and is_repo_id(name) and name not in MODELS and not Path(name).is_dir():
            path = hub_snapshot(name, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only,
                                token=token, force_download=force_download)
        else:
            path = resolve_model_path(name)
        return super().from_pretrained(str(path), local_files_only=True, **model_kwargs)

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision: str | None, cache_dir: str | os.PathLike | None,
                         force_download: bool, local_files_only: bool, token: str | bool | None,
                         config: Any = None, map_location: str | torch.device = "cpu", **model_kwargs: Any) -> Any:
        """The mixin's hook: ``model_id`` is a local checkpoint folder; ctrlgen's reader does every check."""
        if model_kwargs:
            raise CheckpointError(f"{cls.__name__}.from_pretrained got unknown options {sorted(model_kwargs)}",
                                  "the network's sizes come from config.json; pass map_location= to move it")
        model, _, _ = load_pretrained(model_id, cls)  # type: ignore[arg-type]  # keeps tokenizer + sections
        return model.to(map_location)
