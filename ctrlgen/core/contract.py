"""The contract every backend's generator implements (in the spirit of diffusers' ``SchedulerMixin`` and dllm's
``BaseSampler``): ``prepare(constraints)``, ``generate``, ``infill``, ``edit`` → one :class:`GenerationOutput`.

```python
gen = ctrlgen.load("e2e")                     # any backend: the checkpoint's model_type picks the generator
prepared = gen.prepare(Length(12))            # compile once (faces checked here, before any sampling)
out = gen.generate(n=4, steps=50, seed=0, constraints=prepared.constraint)
```

A generator is stateless between calls (state lives in the call; caches such as the cost probe below only
memoise), so one loaded model serves many. Options are validated once by :class:`~ctrlgen.core.options.Options`
(``n``, ``steps``, ``seed``, ``batch_size``, ``guidance_scale``, ``device``, ``dtype``); ``steps`` is the number of
denoising / revision steps on every backend, and its default is the backend's ``BackendSpec.default_steps`` in
the API and the CLI alike. Before any sampling, :meth:`Generator.check_budget` refuses a request whose estimated
time or memory is out of budget (``Options.check_budget``), from the backend's :meth:`Generator.budget` estimate.
An operation a backend does not serve raises :class:`~ctrlgen.errors.UnsupportedOperationError` naming the
backends that do. The report is built by :func:`ctrlgen.core.output.build_output` alone.

**Streaming.** ``generate`` (every backend; ``infill`` where it calls it) takes ``on_batch``, an :data:`OnBatch`
callback ``on_batch(start, part)`` called after each finished batch with the index of the batch's first sample
and that batch's own :class:`GenerationOutput` (texts, ids, and the per-sample report entries — ``well_formed``,
``constraints``, ``satisfied``, ``unchecked`` — built by ``build_output`` on the batch's ids). The call's return
value is the same as without a callback: :func:`merge_batches` concatenates the parts, so the oracles still run
once per sample. The callback runs in the sampling thread; an exception it raises ends the call. ``infill``
reorders by MBR only after the last batch, so its parts come in sampling order, not the returned order.

**Saving.** :meth:`Generator.save_pretrained` writes everything the generator runs with into one directory that
``ctrlgen.load(directory)`` reads back (bit-identical weights, same texts for a seed); :meth:`Generator.push_to_hub`
uploads that directory (``HF_HUB_OFFLINE``: :class:`~ctrlgen.errors.HubOfflineError`). The layout::

    config.json, model.safetensors, tokenizer.json   the backend's network (model_type, model, its sections, sealed)
    classifiers/<kind>/                              the classifiers it finds (user location first, then beside it)
    draft/                                           edit backend: its AR draft LM (``bootstrap.draft_model = "draft"``)
    README.md, provenance.json                       copied from the source checkpoint when it has them
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch

from ctrlgen.constraints.composition import ConstraintLike, PreparedConstraint
from ctrlgen.constraints.fingerprint import ModelContext
from ctrlgen.core.options import MAX_N, Options, count
from ctrlgen.core.output import GenerationOutput, build_output
from ctrlgen.core.requests import OnRequest, Request, generate_requests
from ctrlgen.core.rerank import (
    Fluency,
    check_report,
    fluency_scores,
    keep_samples,
    order_by_checks,
    split_check_only,
)
from ctrlgen.errors import CheckpointError, ConfigError, UnsupportedOperationError
from ctrlgen.models.hub import check_online, upload_folder
from ctrlgen.models.pretrained import save_pretrained
from ctrlgen.registry import BACKENDS, BackendSpec

OnBatch = Callable[[int, GenerationOutput], None]  # (index of the batch's first sample, the batch's output)


def emit_batch(on_batch: OnBatch | None, start: int, ids: torch.Tensor, tokenizer: Any,
               prepared: PreparedConstraint | None, parts: list[GenerationOutput]) -> None:
    """After a batch of ``ids: LongTensor[b, L]`` finished: build its output, keep it in ``parts`` (for
    :func:`merge_batches`) and hand it to ``on_batch``. Does nothing without a callback."""
    if on_batch is None:
        return
    part = build_output(ids, tokenizer, prepared)
    parts.append(part)
    on_batch(start, part)


def merge_batches(parts: list[GenerationOutput], trajectory: list[list[str]] | None = None,
                  **report: Any) -> GenerationOutput:
    """The per-batch outputs of one call as one: texts, ``tokens: LongTensor[n, L]`` and every per-sample report
    list concatenated in order (``well_formed``, ``satisfied``, each constraint's ``satisfied`` / ``scores``);
    ``unchecked`` as in every part; ``report`` adds the call entries (seconds, steps, seed, ...)."""
    first = parts[0].report
    rep: dict[str, Any] = {"well_formed": [w for p in parts for w in p.report["well_formed"]], **report}
    if "constraints" in first:
        rep["constraints"] = {name: {key: [v for p in parts for v in p.report["constraints"][name][key]]
                                     for key in ("satisfied", "scores")} for name in first["constraints"]}
        rep["satisfied"] = [v for p in parts for v in p.report["satisfied"]]
    if "unchecked" in first:
        rep["unchecked"] = first["unchecked"]
    return GenerationOutput(texts=[t for p in parts for t in p.texts], tokens=torch.cat([p.tokens for p in parts]),
                            report=rep, trajectory=trajectory)


class Generator(ABC):
    """A loaded model of one backend. Subclasses set :attr:`backend` and implement :meth:`from_pretrained`,
    :meth:`prepare` and :meth:`generate`; :meth:`infill` and :meth:`edit` where the backend serves them."""

    backend: ClassVar[str]  # the backend's name in :data:`ctrlgen.registry.BACKENDS`
    #: rows of one batch can carry different hard faces (:meth:`sample_requests`; :mod:`ctrlgen.core.requests`)
    mixes_requests: ClassVar[bool] = False
    tokenizer: Any

    @classmethod
    @abstractmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike) -> Generator:
        """Load a checkpoint directory or a bundled model name."""

    @property
    def spec(self) -> BackendSpec:
        """This backend's declaration (faces, default steps, what ``guidance_scale`` means, ...)."""
        return BACKENDS.get(self.backend)

    def options(self, *, sampler_steps: int | None = None, **kwargs: Any) -> Options:
        """The call's keyword options validated once (typed errors with hints). The one rule for ``steps``: an
        explicit ``steps`` wins, else a passed sampler's own (``sampler_steps``), else ``spec.default_steps``."""
        if kwargs.get("steps") is None and sampler_steps is not None:
            kwargs["steps"] = sampler_steps
        return Options.from_kwargs(**kwargs).with_defaults(steps=self.spec.default_steps)

    @abstractmethod
    def prepare(self, constraints: ConstraintLike) -> PreparedConstraint | None:
        """Compile constraints for this model and backend (``None`` for no constraint); raises before sampling
        when a leaf has no face this backend uses."""

    @abstractmethod
    def generate(self, n: int = 8, steps: int | None = None, seed: int | None = 0,
                 constraints: ConstraintLike = None, **kwargs: Any) -> GenerationOutput:
        """Sample ``n`` texts under ``constraints``."""

    def best_of(self, n: int = 8, rerank: int = 4, *, fluency: Fluency | str | None = None,
                fluency_trade: float | None = None, **kwargs: Any) -> GenerationOutput:
        """``generate(n=n * rerank, **kwargs)``, then the ``n`` best by the constraints' check faces (satisfied first,
        then score, then ``fluency`` where given — ``"draft"`` or a callable —, distinct texts before repeats;
        with ``fluency_trade`` w, by score + w · fluency instead: :mod:`ctrlgen.core.rerank`);
        ``report["rerank"]`` = ``{"drawn", "passed", "kept", …}``. Works on every backend: the generic fallback
        where steering alone misses (costs ``rerank`` × the samples)."""
        count("rerank", rerank, 64, "rerank=4")
        if fluency_trade is not None:
            if isinstance(fluency_trade, bool) or not isinstance(fluency_trade, int | float) \
                    or not math.isfinite(fluency_trade) or fluency_trade < 0:
                raise ConfigError(f"fluency_trade must be a finite number >= 0, got {fluency_trade!r}",
                                  "e.g. best_of(n=4, rerank=4, fluency='draft', fluency_trade=0.2)")
            if fluency is None:
                raise ConfigError("fluency_trade needs a fluency score to weigh",
                                  "pass fluency='draft' (or a callable texts -> scores) with it")
        count("n", n * rerank, MAX_N, f"n * rerank <= {MAX_N}")
        if "on_batch" in kwargs:
            raise ConfigError("best_of cannot stream batches: the best samples are known only at the end",
                              "call generate(..., on_batch=...) to stream, or best_of without on_batch")
        if fluency is not None and fluency != "draft" and not callable(fluency):
            fluency_scores(fluency, [])  # the typed error, before sampling
        wanted = kwargs.get("constraints")
        kwargs["constraints"], check_only = split_check_only(wanted, self.spec)
        out = self.generate(n=n * rerank, **kwargs)
        if check_only:  # drawn without them: the report judges every leaf
            out = check_report(out, wanted, self.spec)
        fl = None if fluency is None else fluency_scores(fluency, out.texts)
        order = order_by_checks(out.report, len(out.texts), texts=out.texts, fluency=fl, fluency_trade=fluency_trade)
        kept = keep_samples(out, order[:n])
        passed = out.report.get("satisfied")
        kept.report["rerank"] = {"drawn": len(out.texts), "kept": n,
                                 "passed": None if passed is None else sum(v is True for v in passed),
                                 "distinct": len(set(kept.texts)), "check_only": check_only, "fluency": fluency if isinstance(fluency, str)
                                 else None if fluency is None else "callable", "fluency_trade": fluency_trade}
        return kept

    def generate_requests(self, requests: Sequence[Request], *, on_request: OnRequest | None = None,
                          **kwargs: Any) -> list[GenerationOutput]:
        """Many requests (each its own constraint set and ``n``) in one call, in shared batches where the backend
        can (:attr:`mixes_requests`); one output per request, ``on_request(k, out)`` as each finishes; ``kwargs``:
        the options of :meth:`generate`. See :mod:`ctrlgen.core.requests`."""
        return generate_requests(self, requests, on_request=on_request, **kwargs)

    def sample_requests(self, items: Sequence[tuple[PreparedConstraint | None, int]], *,
                        on_request: OnRequest | None = None, **kwargs: Any) -> None:
        """Backends with :attr:`mixes_requests`: sample ``n`` rows for each ``(prepared, n)`` (no soft terms) in
        shared batches, calling ``on_request(j, out)`` with item ``j``'s own output."""
        raise self._unsupported("sample_requests")

    def infill(self, template: str, n: int = 4, steps: int | None = None, seed: int | None = 0,
               constraints: ConstraintLike = None, **kwargs: Any) -> GenerationOutput:
        """Fill the ``[MASK]`` / ``[MASK:k]`` holes of ``template``; the MBR choice first."""
        raise self._unsupported("infill")

    def edit(self, text: str, constraints: ConstraintLike = None, n: int = 1, seed: int | None = 0,
             **kwargs: Any) -> GenerationOutput:
        """Revise ``text`` toward ``constraints`` with few changes; the best result first."""
        raise self._unsupported("edit")

    def _unsupported(self, operation: str) -> UnsupportedOperationError:
        others = [n for n in BACKENDS.serving(operation) if n != self.backend]
        models = ", ".join(f"ctrlgen.load({BACKENDS.get(n).default_model!r})" for n in others)
        return UnsupportedOperationError(f"the {self.backend!r} backend has no {operation}()",
                                         f"use the {' or '.join(map(repr, others))} backend, e.g. {models}" if others
                                         else "no registered backend serves it")

    def place(self, opts: Options) -> torch.device:
        """Move the networks to the call's ``device`` / ``dtype`` when given (in place, as :meth:`to`; they stay
        there for later calls); returns the device the networks are on."""
        if opts.device is not None or opts.dtype is not None:
            self.to(opts.device, opts.torch_dtype() if opts.dtype is not None else None)
        params = (p for m in self.modules().values() for p in m.parameters())
        return next(params, torch.empty(0)).device

    @staticmethod
    def rng(opts: Options, device: torch.device) -> torch.Generator:
        """The call's sampling generator seeded with ``opts.seed`` (``Options.torch_generator``), on ``device``
        (torch samples on an accelerator only from a generator of that device)."""
        gen = opts.torch_generator()
        return gen if device.type == "cpu" else torch.Generator(device=device).manual_seed(gen.initial_seed())

    def budget(self, opts: Options) -> tuple[float, int] | None:
        """``(seconds per sample per step, bytes per sample in flight)`` for ``opts``, or None (no estimate)."""
        return None

    def check_budget(self, opts: Options) -> None:
        """Refuse (``SamplingError`` with the estimate) a request that cannot finish in the time / memory budget."""
        estimate = self.budget(opts)
        if estimate is not None:
            opts.check_budget(cost_per_step_s=estimate[0], memory_per_sample_bytes=estimate[1],
                              default_steps=self.spec.default_steps)

    def probe_seconds(self, key: Hashable, forward: Callable[[], Any], batch: int) -> float:
        """Seconds per sample of ``forward()`` (which runs ``batch`` samples), measured once per ``key`` (e.g. the
        device and dtype) and memoised: one untimed warm-up call, then one timed call, without gradients and with
        torch's global RNG state restored afterwards."""
        cache: dict[Hashable, float] = self.__dict__.setdefault("_probe_seconds", {})
        if key not in cache:
            cuda = torch.cuda.is_available()
            sync = torch.cuda.synchronize if cuda else (lambda: None)
            # fork_rng: a network left in train mode (dropout) must not shift the RNG the sampling then uses
            with torch.no_grad(), torch.random.fork_rng(devices=[torch.cuda.current_device()] if cuda else []):
                forward()
                sync()
                t0 = time.perf_counter()
                forward()
                sync()
            cache[key] = (time.perf_counter() - t0) / batch
        return cache[key]

    def modules(self) -> dict[str, torch.nn.Module]:
        """The generator's networks by attribute name (moved by :meth:`to`)."""
        return {k: v for k, v in vars(self).items() if isinstance(v, torch.nn.Module)}

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> Generator:
        """Move every network to ``device`` / ``dtype`` (in place); returns ``self``."""
        for module in self.modules().values():
            module.to(device=device, dtype=dtype)
        return self

    # ------------------------------------------------------------------------------------------ saving
    def checkpoint_sections(self) -> dict[str, Any]:
        """The ``config.json`` sections written beside the network (diffusion schedule, data, training, ...): the
        ones it was loaded with (``model.hub_extra``, kept by ``load_pretrained``)."""
        extra = getattr(getattr(self, "model", None), "hub_extra", None)
        if extra is None:
            raise CheckpointError(f"this {type(self).__name__} was not loaded from a checkpoint, so the config "
                                  "sections to save (e.g. the diffusion schedule) are unknown",
                                  "attach them first: ctrlgen.models.pretrained.attach(gen.model, gen.tokenizer, "
                                  "{'diffusion': {...}})")
        return dict(extra)

    def write_companions(self, directory: Path) -> None:
        """Write the files that go beside the network into ``directory`` (the checkpoint being written): the
        classifiers this generator finds (``classifiers/<kind>``) and the source's README / provenance."""
        source: Path | None = getattr(self, "path", None)
        if source is None:
            return
        for name in ("README.md", "provenance.json"):
            if (source / name).is_file():
                shutil.copy2(source / name, directory / name)
        taken: set[str] = set()
        for _, root in ModelContext.of(self.model, None, source, self.tokenizer).classifier_dirs:  # lookup order
            subs = sorted(p for p in root.iterdir() if (p / "config.json").is_file()) if root.is_dir() else []
            for sub in subs:
                kind = json.loads((sub / "config.json").read_text()).get("classifier", sub.name)
                if kind not in taken and not (directory / "classifiers" / sub.name).exists():
                    taken.add(kind)
                    shutil.copytree(sub, directory / "classifiers" / sub.name)

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Write this generator as a checkpoint directory (layout: the module doc), atomically: a failed save leaves
        an existing checkpoint at ``directory`` as it was. Returns the directory."""
        model = getattr(self, "model", None)
        if not isinstance(model, torch.nn.Module):
            raise CheckpointError(f"{type(self).__name__} holds no network to save")
        return save_pretrained(directory, model, self.tokenizer, self.checkpoint_sections(),
                               write_extra=self.write_companions)

    def push_to_hub(self, repo_id: str, *, private: bool | None = None, token: str | None = None,
                    commit_message: str = "Upload ctrlgen checkpoint", branch: str | None = None,
                    create_pr: bool | None = None) -> str:
        """:meth:`save_pretrained` into a temporary folder, uploaded to Hub repo ``repo_id`` in one commit; returns
        the commit URL. Refused before anything is written when ``HF_HUB_OFFLINE`` is set (``HubOfflineError``)."""
        check_online(f"push to {repo_id!r}")
        with tempfile.TemporaryDirectory() as tmp:
            folder = self.save_pretrained(Path(tmp) / "checkpoint")
            return upload_folder(folder, repo_id, private=private, token=token, commit_message=commit_message,
                                 branch=branch, create_pr=create_pr)
