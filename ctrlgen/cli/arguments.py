"""The arguments of ``generate``, ``infill``, ``edit``, ``train`` and ``env``, and their checks before anything
is loaded. Torch-free: ``ctrlgen generate --help`` and a bad value answer without importing a model.

The backends come from the one registry, :data:`ctrlgen.registry.BACKENDS`: ``--backend`` offers the registered
names, each backend's flags are added by its ``BackendSpec.cli`` object (a :class:`~ctrlgen.core.flags.BackendFlags`)
under a group named after it, and a flag of another backend is refused ("--beam is for the edit backend").
Numbers are handed to :class:`~ctrlgen.core.options.Options` as typed, so a bad ``-n``, ``--steps``, ``--seed``,
``--batch-size`` or ``--guidance-scale`` ends in its typed error with a hint (exit status 2).
"""

from __future__ import annotations

import argparse
import math

from ctrlgen.core.flags import BackendFlags
from ctrlgen.core.options import MAX_N, Options, count, nonnegative_float, positive_int
from ctrlgen.errors import ConfigError, ConstraintConflictError, SamplingError
from ctrlgen.registry import BACKENDS, resolve
from ctrlgen.text.e2e import E2E_FIELDS


def integer(s: str) -> int | str:
    """argparse ``type=``: an int when ``s`` reads as one, else ``s`` itself, which ``Options`` then refuses
    with a typed error and a hint (argparse's own message would have neither)."""
    try:
        return int(s)
    except ValueError:
        return s


def number(s: str) -> float | str:
    """argparse ``type=``: a float when ``s`` reads as one (nan and inf too: ``Options`` refuses them), else ``s``."""
    try:
        return float(s)
    except ValueError:
        return s


def backend_flags(name: str) -> BackendFlags | None:
    """The ``BackendFlags`` object of backend ``name`` (None when it declares no CLI flags)."""
    spec = BACKENDS.get(name)
    if not spec.cli:
        return None
    flags = resolve(spec.cli)
    if not isinstance(flags, BackendFlags):
        raise ConfigError(f"backend {name!r}: {spec.cli} is not a BackendFlags object",
                          "define FLAGS with add_arguments(parser) and to_kwargs(args) (ctrlgen.core.flags)")
    return flags


def check_backend_flags(args: argparse.Namespace, backend: str) -> None:
    """Refuse a flag that belongs to another backend than ``backend`` (the one that will run)."""
    owners: dict[str, list[tuple[str, str]]] = getattr(args, "backend_flags", {})
    own = ", ".join(opt for _, opt in owners.get(backend, [])) or "no flags of its own"
    for owner, flags in owners.items():
        for dest, opt in flags:
            if owner != backend and getattr(args, dest, None) is not None:
                raise ConfigError(f"{opt} is for the {owner} backend, not {backend}",
                                  f"pass --backend {owner} with a model of that backend (e.g. --model "
                                  f"{BACKENDS.get(owner).default_model}); the {backend} backend takes {own} "
                                  "and the shared --steps / --guidance-scale")


def check_sampling(args: argparse.Namespace) -> None:
    """Validate the numbers with ``Options`` (stored as ``args.options``; ``steps`` still None = the backend's
    default) and, when ``--backend`` is given, the backend flags — all before any model is loaded."""
    args.options = Options(n=args.n, steps=args.steps, seed=args.seed, batch_size=args.batch_size,
                           guidance_scale=1.0 if args.guidance_scale is None else args.guidance_scale)
    check_threads(args)
    if args.guidance_scale is not None:
        args.guidance_scale = args.options.guidance_scale
    if args.backend is not None:
        check_backend_flags(args, args.backend)
    check_flag_numbers(args)
    check_constraint_specs(args.constraint)
    if getattr(args, "requests", None) is not None:
        check_requests_flag(args)
    if getattr(args, "fluency", None) is not None and getattr(args, "rerank", 1) == 1:
        raise ConfigError("--fluency ranks the samples of --rerank", "add --rerank 4 (draw 4 × n, keep the n best)")
    if getattr(args, "fluency_trade", None) is not None and getattr(args, "fluency", None) is None:
        raise ConfigError("--fluency-trade weighs a fluency score", "add --fluency draft (and --rerank R)")
    if getattr(args, "rerank", 1) != 1:
        count("--rerank", args.rerank, 64, "--rerank 4")
        count("-n × --rerank", args.n * args.rerank, MAX_N, "a smaller -n or --rerank")


def check_requests_flag(args: argparse.Namespace) -> None:
    """``--requests FILE``: the flags it replaces must be left out (the file is read by ``ctrlgen generate`` before
    the model is loaded: :func:`ctrlgen.cli.generate.read_request_file`)."""
    clash = [flag for flag, given in (("--constraint", args.constraint), ("--rerank", args.rerank != 1),
                                      ("-n", args.n != 8)) if given]
    if clash:
        raise ConfigError(f"--requests replaces {', '.join(clash)}: each request has its own n and constraints",
                          "put them into the request lines, or leave --requests out")


def check_flag_numbers(args: argparse.Namespace) -> None:
    """A number given to a backend's flag (``--temperature``, ``--fluency-weight``, ``--guidance-shortlist``, ...)
    must be finite and >= 0: every such flag is a scale, a weight, a fraction or a count, and NaN or infinity
    would silently blank or unguide the samples."""
    owners: dict[str, list[tuple[str, str]]] = getattr(args, "backend_flags", {})
    for flags in owners.values():
        for dest, opt in flags:
            v = getattr(args, dest, None)
            if isinstance(v, int | float) and not isinstance(v, bool) and not (math.isfinite(v) and v >= 0):
                raise SamplingError(f"{opt} must be a finite number >= 0, got {v!r}",
                                    f"leave {opt} out for the backend's default; '--help' lists what each flag means")


def check_threads(args: argparse.Namespace) -> None:
    """``--threads``: None (:func:`ctrlgen.cli.stream.default_threads`) or a positive int."""
    v = args.threads
    if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
        raise ConfigError(f"--threads must be a positive integer, got {v!r}",
                          "e.g. --threads 4; leave it out for OMP_NUM_THREADS, else the free cores")


def _run_arguments(q: argparse.ArgumentParser, what: str) -> None:
    """``--threads`` and ``--quiet``, shared by generate, infill and edit."""
    q.add_argument("--threads", type=integer, default=None, metavar="N",
                   help="CPU threads for torch (default: OMP_NUM_THREADS when set, else the free cores: the cores "
                        "this process may use minus the 1-minute load average, at least 1); under CPU contention "
                        "fewer threads can be much faster")
    q.add_argument("--quiet", action="store_true",
                   help=f"no progress on stderr (default: a bar on a terminal, else a line every few seconds). "
                        f"{what} Exit status: 0 done, 2 bad input, 130 Ctrl-C, 143 SIGTERM")


def _each(attr: str) -> str:
    """``"discrete: 128; edit: 12; ..."`` — a BackendSpec field of every backend, for help texts."""
    return "; ".join(f"{n}: {getattr(BACKENDS.get(n), attr)}" for n in BACKENDS).replace("%", "%%")


def sampling_arguments(q: argparse.ArgumentParser, n: int, stream: str) -> None:
    q.add_argument("--backend", choices=list(BACKENDS), default=None,
                   help="the backend (each one's flags are listed below); without --model its bundled model is "
                        "used, without either the package's default model")
    q.add_argument("--model", default=None, help="bundled model name or checkpoint directory (default: the "
                   f"backend's bundled model — {_each('default_model')})")
    q.add_argument("-n", type=integer, default=n, help=f"number of texts (default {n})")
    q.add_argument("--steps", type=integer, default=None,
                   help=f"denoising / revision steps (default: the backend's — {_each('default_steps')})")
    q.add_argument("--seed", type=integer, default=0, help="random seed (default 0)")
    q.add_argument("--constraint", action="append", metavar="SPEC",
                   help="repeatable: length=14, infill=TEMPLATE, prefix=TEXT, suffix=TEXT;length=N, "
                        "food=Japanese (any E2E field), pos=PROPN,AUX,..., tree=(S ...), span=3:5:PP")
    q.add_argument("--batch-size", type=integer, default=64, help="samples per forward pass (default 64)")
    q.add_argument("--guidance-scale", type=number, default=None, metavar="G",
                   help=f"strength of soft constraints, 0 = unguided (default 1). Per backend: {_each('guidance')}")
    q.add_argument("--json", action="store_true", help="one JSON object per line")
    _run_arguments(q, stream)
    owners: dict[str, list[tuple[str, str]]] = {}
    for name in BACKENDS:
        flags = backend_flags(name)
        if flags is None:
            continue
        group = q.add_argument_group(f"{name} backend", BACKENDS.get(name).description)
        flags.add_arguments(group)
        owners[name] = [(a.dest, a.option_strings[0]) for a in group._group_actions]  # what this backend added
    q.set_defaults(backend_flags=owners, check=check_sampling)


def rerank_arguments(q: argparse.ArgumentParser) -> None:
    """``--rerank R``, ``--fluency draft`` and ``--fluency-trade W`` (``Generator.best_of``)."""
    q.add_argument("--rerank", type=integer, default=1, metavar="R",
                   help="draw n × R samples and print the n best by the constraints' checks, passing ones first, "
                        "distinct texts before repeats (any backend; printed at the end, not streamed; default 1 = off)")
    q.add_argument("--fluency", choices=("draft",), default=None,
                   help="with --rerank: among samples the checks rank equal, prefer the more fluent under the bundled "
                        "AR draft LM e2e-ar-draft (default: the backend's own order)")
    q.add_argument("--fluency-trade", type=nonnegative_float, default=None, metavar="W",
                   help="with --fluency: rank by check score + W x per-word log-likelihood instead (trades a graded "
                        "check such as tree F1 for fluency; e.g. 0.2; default: fluency only breaks ties)")


def generate_arguments(q: argparse.ArgumentParser) -> None:
    """``ctrlgen generate [-n 8] [--steps S] [--seed 0] [--backend B | --model DIR] [--constraint SPEC ...]``."""
    sampling_arguments(q, 8, "Each batch (--batch-size) is printed as soon as it is done, so an "
                        "interrupted run keeps every finished sample.")
    rerank_arguments(q)
    q.add_argument("--requests", default=None, metavar="FILE",
                   help="a JSONL file of requests ('-' = stdin), one per line: {\"id\": \"q1\", \"n\": 2, "
                        "\"constraints\": [\"length=10\"]} or {\"n\": 4, \"infill\": \"… [MASK:3] …\"}; run in "
                        "shared batches where the backend can (discrete: hard constraints of any mix); prints one "
                        "JSON line per sample with its request's index and id, each request as soon as it is done. "
                        "Replaces -n, --constraint and --rerank")


def infill_arguments(q: argparse.ArgumentParser) -> None:
    """``ctrlgen infill TEMPLATE [-n 4] ...`` (the options of ``generate``)."""
    q.add_argument("template", help='e.g. "The Vaults is a [MASK:3] pub near [MASK] ."')
    sampling_arguments(q, 4, "Results are printed at the end, best (MBR) first: the order needs every "
                        "sample.")


def check_edit(args: argparse.Namespace) -> None:
    """Validate ``-n``, ``--steps`` and ``--seed`` with ``Options`` before the model is loaded."""
    args.options = Options(n=args.n, steps=args.steps, seed=args.seed)
    check_threads(args)
    check_constraint_specs(args.constraint)


def edit_arguments(e: argparse.ArgumentParser) -> None:
    """``ctrlgen edit TEXT --constraint SPEC … [-n N] [--steps S] [--json]`` and the flags of the backends that edit."""
    editors = BACKENDS.serving("edit")
    default = BACKENDS.get(editors[0]).default_model if editors else None
    e.add_argument("text", help='e.g. "The Vaults is a cheap pub near Café Adriatic ."')
    e.add_argument("--model", default=default, help=f"checkpoint of a backend that edits ({', '.join(editors)}): "
                   f"bundled name or directory (default {default})")
    e.add_argument("--constraint", action="append", metavar="SPEC",
                   help="repeatable: length=8, prefix=TEXT, any registered spec with a hard or check face")
    e.add_argument("-n", type=integer, default=1, help="number of results, best first (default 1)")
    e.add_argument("--steps", type=integer, default=None,
                   help=f"most revisions (default: the backend's — {_each('default_steps')})")
    e.add_argument("--seed", type=integer, default=0, help="random seed (default 0)")
    e.add_argument("--json", action="store_true", help="one JSON object per result: text, edits, satisfied")
    _run_arguments(e, "Results are printed at the end, best first.")
    for name in editors:
        flags = backend_flags(name)
        if flags is not None:
            flags.add_arguments(e.add_argument_group(f"{name} backend"))
    e.set_defaults(check=check_edit)


def train_arguments(t: argparse.ArgumentParser) -> None:
    """``ctrlgen train CONFIG.toml [--data CSV] [--output DIR] [--steps N] [--set key=value ...] [--no-resume]
    [--allow-config-change]``."""
    t.add_argument("config", help="TOML run config, e.g. recipes/configs/e2e_embedding.toml")
    t.add_argument("--data", help="training CSV (overrides data.train)")
    t.add_argument("--output", help="output directory (overrides output_dir)")
    t.add_argument("--steps", type=positive_int, help="total training steps (overrides training.steps)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config key, repeatable")
    t.add_argument("--no-resume", action="store_true", help="refuse to continue an existing run")
    t.add_argument("--allow-config-change", action="store_true",
                   help="resume although training-relevant settings (seed, lr, model, data, ...) differ from the "
                        "run's checkpoint; the change is logged and recorded")


def env_arguments(e: argparse.ArgumentParser) -> None:
    """``ctrlgen env`` takes no arguments."""


def check_constraint_specs(specs: list[str] | None) -> None:
    """One value per semantic field: ``--constraint food=Chinese --constraint food=Japanese`` is refused here, at
    start-up and without torch (``SemanticField`` composition raises the same error in the API)."""
    seen: dict[str, str] = {}
    for spec in specs or []:
        key, sep, rest = spec.partition("=")
        field, value = key.strip(), rest.split(";")[0].strip()
        if not sep or field not in E2E_FIELDS:
            continue
        if field in seen and seen[field] != value:
            raise ConstraintConflictError(f"--constraint {field}={seen[field]} and --constraint {field}={value} ask "
                                          f"for two values of {field!r}",
                                          f"pick one value for {field!r}")
        seen[field] = value

