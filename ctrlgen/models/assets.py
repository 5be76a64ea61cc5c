"""Where a model name leads: a bundled model, a checkpoint directory, or a Hugging Face Hub repository.

```python
from ctrlgen.models.assets import resolve_model_path
resolve_model_path("e2e")          # the bundled Diffusion-LM checkpoint's folder
resolve_model_path("owner/name")   # a Hub repo: its snapshot in the Hugging Face cache (downloaded if need be)
```

The order is fixed: a bundled name first, then an existing local directory, then a Hub repo id (``owner/name``).
A repo id resolves through the Hugging Face cache with ``huggingface_hub.snapshot_download`` (``HF_HUB_CACHE`` /
``HF_HOME`` pick the cache). With ``HF_HUB_OFFLINE=1`` only the cache is read; without it a download is tried and,
when the Hub cannot be reached, the cached snapshot is used. A repo in neither place is a :class:`CheckpointError`
that says so and how to get it. ``huggingface_hub`` is imported only when a repo id is resolved.
"""

from __future__ import annotations

import os
import re
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
MODELS.register("e2e-masked", "e2e-masked")  # LLaDA-architecture mask predictor (masked backend), see its README
DEFAULT_MODEL = "e2e"

#: A Hub repo id: ``owner/name`` (letters, digits, ``-``, ``_``, ``.``; neither part starts with ``.`` or ``-``).
REPO_ID = re.compile(r"^[A-Za-z0-9_][\w.-]{0,95}/[A-Za-z0-9_][\w.-]{0,95}$")
_TRUE = {"1", "on", "yes", "true"}


def is_repo_id(name: str | os.PathLike) -> bool:
    """Whether ``name`` reads as a Hub repo id (``"owner/name"``), not as a local path."""
    return isinstance(name, str) and bool(REPO_ID.match(name)) and ".." not in name and "--" not in name


def hf_offline() -> bool:
    """``HF_HUB_OFFLINE`` as set now (huggingface_hub itself reads it once, at import)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def hf_cache_dir() -> str | None:
    """The Hugging Face hub cache as the environment names it now (``HF_HUB_CACHE``, else ``$HF_HOME/hub``), or
    None for huggingface_hub's default (``~/.cache/huggingface/hub``)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    return str(Path(os.environ["HF_HOME"]) / "hub") if os.environ.get("HF_HOME") else None


def hub_snapshot(repo_id: str, *, revision: str | None = None, cache_dir: str | os.PathLike | None = None,
                 local_files_only: bool | None = None, token: str | bool | None = None,
                 force_download: bool = False) -> Path:
    """The local snapshot folder of Hub repo ``repo_id`` (``snapshot_download``). ``local_files_only`` defaults to
    ``HF_HUB_OFFLINE``; every failure is a :class:`CheckpointError` naming the repo and what to do."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    offline = hf_offline() if local_files_only is None else local_files_only
    cache = cache_dir or hf_cache_dir()
    where = f"the Hugging Face cache ({cache or '~/.cache/huggingface/hub'})"
    get = (f"download it where a network exists (`hf download {repo_id}`, or ctrlgen.load({repo_id!r}) without "
           "HF_HUB_OFFLINE) and copy the cache here, or pass the checkpoint directory instead")
    try:
        return Path(snapshot_download(repo_id, revision=revision, cache_dir=cache, local_files_only=offline,
                                      token=token, force_download=force_download, library_name="ctrlgen"))
    except (LocalEntryNotFoundError, OfflineModeIsEnabled):
        why = "HF_HUB_OFFLINE is set" if offline else "the Hub cannot be reached"
        raise CheckpointError(f"model {repo_id!r} is not cached in {where} and {why}", get) from None
    except GatedRepoError:
        raise CheckpointError(f"Hub repo {repo_id!r} is gated", "accept its terms on the Hub and log in "
                              "(`hf auth login`)") from None
    except RepositoryNotFoundError:
        raise CheckpointError(f"no bundled model, directory or Hub repo named {repo_id!r}",
                              f"bundled models: {', '.join(MODELS)}; a private repo needs `hf auth login`") from None
    except RevisionNotFoundError:
        raise CheckpointError(f"Hub repo {repo_id!r} has no revision {revision!r}", "pass an existing branch, "
                              "tag or commit") from None
    except HFValidationError as e:
        raise CheckpointError(f"{repo_id!r} is not a valid Hub repo id ({e})", "use owner/name") from None
    except (HfHubHTTPError, OSError) as e:
        raise CheckpointError(f"could not fetch {repo_id!r} from the Hub: {e}", get) from None


def resolve_model_path(name_or_path: str | os.PathLike, *, revision: str | None = None) -> Path:
    """A bundled model name, a checkpoint directory or a Hub repo id (in that order) → the directory."""
    if not str(name_or_path).strip():  # Path("") is ".", the current directory: never what was meant
        raise CheckpointError("the model name is empty",
                              f"bundled models: {', '.join(MODELS)}; or pass a directory written by save_pretrained()")
    if isinstance(name_or_path, str) and name_or_path in MODELS:
        path = Path(str(resources.files("ctrlgen") / "assets" / MODELS.get(name_or_path)))
        if not (path / "config.json").is_file():
            raise CheckpointError(f"bundled model {name_or_path!r} is missing from {path}",
                                  "reinstall ctrlgen; the wheel ships ctrlgen/assets")
        return path
    p = Path(name_or_path)
    if p.is_dir():
        return p
    if isinstance(name_or_path, str) and is_repo_id(name_or_path):
        return hub_snapshot(name_or_path, revision=revision)
    raise CheckpointError(f"no model named {str(name_or_path)!r} and no such directory",
                          f"bundled models: {', '.join(MODELS)}; or pass a directory written by save_pretrained(), "
                          "or a Hugging Face repo id (owner/name)")
MODELS.register("e2e-masked-bpe", "e2e-masked-bpe")  # the same LLaDA recipe on byte-level BPE (1,024 subwords), see its README
