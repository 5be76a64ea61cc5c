"""Many requests in one call: each with its own constraint set and sample count, run in shared batches.

```python
from ctrlgen import Infill, Length, Request
gen = ctrlgen.load("e2e-sedd")
outs = gen.generate_requests([Request(Length(10), n=2), Request(Infill("The Vaults is a [MASK:3] pub ."), n=4)],
                             seed=0)
outs[1].texts          # the second request's 4 texts, with its own report
```

A backend that can condition every row of a batch on its own hard face (``Generator.mixes_requests``: the
discrete and masked backends fix tokens per row) runs the requests whose constraints have only hard and check
faces together, ``batch_size`` rows at a time, whatever their constraints: 100 users' infill and length requests
cost about one batch of the same size. Requests with a soft face (classifier guidance) and every request on other
backends run as their own ``generate`` call (identical constraint sets merged into one). Each request gets its
own :class:`~ctrlgen.core.output.GenerationOutput` and report; ``infill`` requests are ordered by MBR as
``Generator.infill`` orders them.

Seeds: one ``seed`` per call. A request's texts depend on the requests it shares batches with, so the same list
with the same ``seed`` and ``batch_size`` gives the same texts; the same request alone gives other (equally
distributed) texts.

The command line reads requests from a JSONL file (``ctrlgen generate --requests FILE``), one object per line::

    {"id": "q1", "n": 2, "constraints": ["length=10"]}
    {"id": "q2", "n": 4, "infill": "The Vaults is a [MASK:3] pub ."}

``constraints`` takes the ``--constraint`` specs (:mod:`ctrlgen.constraints.specs`), a single string or a list.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ctrlgen.constraints.composition import (
    ConstraintLike,
    PreparedConstraint,
    as_constraint,
)
from ctrlgen.constraints.infill import Infill
from ctrlgen.constraints.specs import parse_constraint
from ctrlgen.core.mbr import order_by_mbr
from ctrlgen.core.options import MAX_N, count
from ctrlgen.core.output import GenerationOutput
from ctrlgen.core.rerank import keep_samples
from ctrlgen.errors import ConfigError, CtrlgenError

OnRequest = Callable[[int, GenerationOutput], None]  # (index of the request, its finished output)
_KEYS = {"id", "n", "constraints", "infill"}


@dataclass(frozen=True)
class Request:
    """One request: ``n`` samples under ``constraints``; with ``infill`` (a template with ``[MASK]`` holes) the
    holes are filled as by ``Generator.infill`` (its ``Infill`` composed with ``constraints``). ``id`` is echoed
    in the CLI's output lines."""

    constraints: ConstraintLike = None
    n: int = 1
    infill: str | None = None
    id: str | None = None

    def constraint_set(self) -> ConstraintLike:
        """The request's whole constraint set (``Infill(template) & constraints`` for an infill request)."""
        if self.infill is None:
            return self.constraints
        hole = Infill(self.infill)
        return hole if self.constraints in (None, []) else hole & as_constraint(self.constraints)


def read_requests(lines: Iterable[str], source: str = "<requests>") -> list[Request]:
    """JSONL request lines (blank lines skipped) → requests; every problem is a ``ConfigError`` naming the line,
    raised before any model work."""
    requests = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{source}, line {number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{where} is not JSON ({e.msg})", 'a line looks like {"n": 2, "constraints": ["length=10"]}') from None
        if not isinstance(obj, dict):
            raise ConfigError(f"{where} is a {type(obj).__name__}, not an object", 'e.g. {"n": 2, "infill": "… [MASK:3] …"}')
        unknown = sorted(set(obj) - _KEYS)
        if unknown:
            raise ConfigError(f"{where} has unknown keys {unknown}", f"keys: {', '.join(sorted(_KEYS))} (the seed is per call: --seed)")
        specs = obj.get("constraints", [])
        specs = [specs] if isinstance(specs, str) else specs
        if not isinstance(specs, list) or not all(isinstance(s, str) for s in specs):
            raise ConfigError(f"{where}: 'constraints' must be a spec string or a list of them", "e.g. [\"length=10\"]")
        if "infill" in obj and not isinstance(obj["infill"], str):
            raise ConfigError(f"{where}: 'infill' must be a template string", 'e.g. "The Vaults is a [MASK:3] pub ."')
        try:
            constraints = [parse_constraint(s) for s in specs]
            request = Request(constraints or None, obj.get("n", 1), obj.get("infill"),
                              None if obj.get("id") is None else str(obj["id"]))
            check_requests([request])
            as_constraint(request.constraint_set()) if request.constraint_set() is not None else None
        except CtrlgenError as e:
            raise type(e)(f"{where}: {e.message}", e.hint or None) from None
        requests.append(request)
    if not requests:
        raise ConfigError(f"{source} holds no requests", "one JSON object per line")
    return requests


def check_requests(requests: Sequence[Request]) -> None:
    """Each ``n`` a positive integer and the total within ``MAX_N`` (typed errors with hints)."""
    if not isinstance(requests, Sequence) or isinstance(requests, str) or not requests:
        raise ConfigError(f"requests must be a non-empty list of Request, got {requests!r:.60}",
                          "e.g. [Request(Length(10), n=2), Request(infill='The Vaults is a [MASK:3] pub .')]")
    for k, r in enumerate(requests):
        if not isinstance(r, Request):
            raise ConfigError(f"request {k} is a {type(r).__name__}, not a Request", "wrap it: Request(constraints, n=…)")
        count(f"request {k}: n", r.n, MAX_N, "n=4")
    count("the total n of all requests", sum(r.n for r in requests), MAX_N, "fewer or smaller requests")


def generate_requests(gen: Any, requests: Sequence[Request], *, on_request: OnRequest | None = None,
                      **kwargs: Any) -> list[GenerationOutput]:
    """Run ``requests`` on ``gen`` (a :class:`~ctrlgen.core.contract.Generator`, which calls this; ``kwargs``: the options of ``generate`` — steps, seed, batch_size, …) → one
    output per request, in order; ``on_request(k, out)`` as each finishes. Every request is prepared (constraint
    faces checked) before any sampling."""
    check_requests(requests)
    for key in ("n", "constraints", "on_batch"):
        if key in kwargs:
            raise ConfigError(f"generate_requests() takes no {key!r}: each Request has its own",
                              "put n and constraints into the Request objects")
    prepared = [gen.prepare(r.constraint_set()) for r in requests]
    outs: dict[int, GenerationOutput] = {}

    def finish(k: int, out: GenerationOutput) -> None:
        outs[k] = order_by_mbr(out) if requests[k].infill is not None else out
        if on_request is not None:
            on_request(k, outs[k])

    mixed = [k for k, p in enumerate(prepared) if gen.mixes_requests and (p is None or not p.soft_terms)]
    if mixed:
        gen.sample_requests([(prepared[k], requests[k].n) for k in mixed],
                            on_request=lambda j, out: finish(mixed[j], out), **kwargs)
    alone: dict[str, list[int]] = {}  # identical constraint sets run as one call
    for k in range(len(requests)):
        if k not in set(mixed):
            alone.setdefault(_key(prepared[k]), []).append(k)
    for group in alone.values():
        out = gen.generate(n=sum(requests[k].n for k in group), constraints=requests[group[0]].constraint_set(),
                           **kwargs)
        start = 0
        for k in group:
            finish(k, _slice(out, start, start + requests[k].n))
            start += requests[k].n
    return [outs[k] for k in range(len(requests))]


def _key(prepared: PreparedConstraint | None) -> str:
    """Requests with equal keys have the same constraint set (their leaves' reprs, in order)."""
    return "" if prepared is None else repr([(t.weight, repr(t.constraint)) for t in prepared.terms])


def _slice(out: GenerationOutput, a: int, z: int) -> GenerationOutput:
    """Samples ``a:z`` of ``out`` with their per-sample report entries (call entries kept as they are)."""
    return keep_samples(out, list(range(a, z)))
