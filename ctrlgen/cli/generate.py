"""``ctrlgen generate`` and ``ctrlgen infill``: load the model of ``--backend`` / ``--model`` and sample.

The arguments were parsed and checked by :mod:`ctrlgen.cli.arguments` (``args.options``: the validated
``Options``); here the model is loaded, its backend's flags become generator keyword arguments through the
backend's ``BackendFlags.to_kwargs``, and ``--steps`` left out means the backend's ``default_steps``.
``generate`` prints each batch as it finishes; ``infill`` prints at the end, best (MBR) first
(:mod:`ctrlgen.cli.stream`).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ctrlgen.api import load
from ctrlgen.cli.arguments import backend_flags, check_backend_flags
from ctrlgen.cli.stream import Stream, accepts, progress_mode, records, set_threads
from ctrlgen.constraints.composition import as_constraint
from ctrlgen.constraints.specs import parse_constraint
from ctrlgen.core.contract import Generator
from ctrlgen.core.requests import Request, read_requests
from ctrlgen.errors import ConfigError
from ctrlgen.registry import BACKENDS


def load_for(args: argparse.Namespace) -> Generator:
    """The generator for ``--model`` / ``--backend``; the checkpoint's own backend must match ``--backend``."""
    name = args.model if args.model is not None else (BACKENDS.get(args.backend).default_model if args.backend
                                                      else None)
    gen = load(name) if name is not None else load()
    if args.backend is not None and gen.backend != args.backend:
        raise ConfigError(f"--model {args.model} is a {gen.backend!r} model but --backend is {args.backend!r}",
                          f"pass --backend {gen.backend} (or leave --backend out: the model's own is used)")
    args.backend = gen.backend
    return gen


def call_kwargs(args: argparse.Namespace, gen: Generator) -> dict[str, Any]:
    """The keyword arguments of ``generate`` / ``infill``: the validated options (``steps`` defaulted to the
    backend's) and what the backend's own flags mean."""
    check_backend_flags(args, gen.backend)
    opts = args.options.with_defaults(steps=gen.spec.default_steps)
    flags = backend_flags(gen.backend)
    extra = flags.to_kwargs(args) if flags is not None else (
        {} if args.guidance_scale is None else {"guidance_scale": args.guidance_scale})
    return {"n": opts.n, "steps": opts.steps, "seed": opts.seed, "batch_size": opts.batch_size,
            "progress": progress_mode(args.quiet)[0], **extra}


def sample(args: argparse.Namespace, gen: Generator, operation: str, stream: bool, **kwargs: Any) -> int:
    """Run ``gen``'s ``operation`` (``generate`` / ``infill``) with a :class:`~ctrlgen.cli.stream.Stream` as its
    ``on_batch``: batches printed as they finish when ``stream``, progress lines on stderr off a terminal."""
    set_threads(args.threads)
    kwargs.update(call_kwargs(args, gen))
    call = getattr(gen, operation)
    _, lines = progress_mode(args.quiet)
    if operation == "best_of":
        kwargs["rerank"], kwargs["fluency"], stream = args.rerank, args.fluency, False  # best known only at the end
        kwargs["fluency_trade"] = args.fluency_trade
    with Stream(operation, kwargs["n"], args.json, stream=stream, lines=lines) as out_stream:
        if operation != "best_of" and accepts(call, "on_batch"):
            kwargs["on_batch"] = out_stream
        out = call(**kwargs)
    out_stream.finish(out)
    return 0


def parse_constraints(args: argparse.Namespace) -> list[Any]:
    """``--constraint SPEC`` … → constraint objects, composed once so that a bad spec or two that conflict
    (``food=Chinese`` and ``food=Japanese``) fail before any model is loaded."""
    constraints = [parse_constraint(spec) for spec in args.constraint or []]
    if constraints:
        as_constraint(constraints)  # raises ConstraintConflictError naming both
    return constraints


def read_request_file(name: str) -> list[Request]:
    """``--requests FILE`` (``-``: stdin) → the checked requests (:func:`ctrlgen.core.requests.read_requests`)."""
    if name == "-":
        return read_requests(sys.stdin, "<stdin>")
    try:
        with open(name, encoding="utf-8") as f:
            return read_requests(f, name)
    except OSError as e:
        raise ConfigError(f"cannot read --requests {name}: {e.strerror}",
                          "pass a JSONL file (one request object per line) or '-' for stdin") from None


def run_requests(args: argparse.Namespace, gen: Generator) -> int:
    """``ctrlgen generate --requests FILE``: every request's samples as JSON lines (``request``: its index in the
    file, ``id``: its own), printed as soon as the request is done."""
    set_threads(args.threads)
    kwargs = call_kwargs(args, gen)
    del kwargs["n"]

    def emit(k: int, out: Any) -> None:
        rid = args.request_list[k].id
        for rec in records(out):
            sys.stdout.write(json.dumps({"request": k, "id": rid, **rec}, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    gen.generate_requests(args.request_list, on_request=emit, **kwargs)
    return 0


def run_generate(args: argparse.Namespace) -> int:
    """``ctrlgen generate``."""
    if getattr(args, "requests", None) is not None:
        args.request_list = read_request_file(args.requests)  # every line checked before the model is loaded
        return run_requests(args, load_for(args))
    constraints = parse_constraints(args)
    gen = load_for(args)
    operation = "best_of" if args.rerank > 1 else "generate"
    return sample(args, gen, operation, True, constraints=constraints or None)


def run_infill(args: argparse.Namespace) -> int:
    """``ctrlgen infill TEMPLATE``."""
    constraints = parse_constraints(args)
    gen = load_for(args)
    return sample(args, gen, "infill", False, template=args.template, constraints=constraints or None)
