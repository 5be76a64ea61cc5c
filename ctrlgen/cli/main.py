"""Command line: a thin layer over the Python API.

    ctrlgen generate [-n 8] [--steps 200] [--seed 0] [--model DIR] [--constraint SPEC ...] [--json]
    ctrlgen infill "The Vaults is a [MASK:3] pub near [MASK] ." [-n 4] [--json]
    ctrlgen train CONFIG.toml [--data CSV] [--output DIR] [--steps N] [--set key=value ...] [--no-resume]
    ctrlgen env

User errors print the message and a hint and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

from ctrlgen.errors import ConfigError, CtrlgenError


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {s!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {v}")
    return v


def _beam(s: str) -> tuple[int, int]:
    from ctrlgen.backends.edit.flags import parse_beam

    return parse_beam(s)


#: --backend → the bundled model it uses when --model is not given.
BACKEND_MODELS = {"embedding": "e2e", "discrete": "e2e-sedd", "edit": "e2e-edit"}


def _load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The generator for --model / --backend; the checkpoint's own model_type must match --backend."""
    from ctrlgen.api import load

    gen = load(args.model or BACKEND_MODELS[args.backend or "embedding"])
    if args.backend is not None and gen.backend != args.backend:
        raise ConfigError(f"--model {args.model} is a {gen.backend!r} model but --backend is {args.backend!r}",
                          f"pass --backend {gen.backend} (or leave --backend out: the model's own is used)")
    args.backend = gen.backend
    return gen


def _sampler(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The sampler object of the chosen backend, from its CLI options (None = the backend's default)."""
    if args.backend == "embedding":
        from ctrlgen.backends.embedding.sampler import EmbeddingSampler

        return EmbeddingSampler(steps=args.steps, clamp=not args.no_clamp, clamp_after=args.clamp_after,
                                rounding=args.rounding, temperature=args.temperature)
    if args.backend == "discrete":
        from ctrlgen.backends.discrete.sampler import SEDDSampler

        return SEDDSampler(steps=args.steps, predictor=args.predictor)
    if args.backend == "edit":
        from ctrlgen.backends.edit.flags import sampler_from_args

        return sampler_from_args(args)
    return None


def _guidance(args: argparse.Namespace) -> dict:
    """Guidance keywords of the chosen backend from --guidance-scale / --fluency-weight (empty: defaults)."""
    scale, lam = getattr(args, "guidance_scale", None), getattr(args, "fluency_weight", None)
    shortlist = getattr(args, "guidance_shortlist", None)
    if args.backend == "discrete":
        if lam is not None:
            raise ConfigError("--fluency-weight is for the embedding backend", "use --guidance-scale on discrete")
        return {**({} if scale is None else {"guidance_scale": scale}),
                **({} if shortlist is None else {"guidance_shortlist": shortlist})}
    if shortlist is not None:
        raise ConfigError("--guidance-shortlist is for the discrete backend", "pass --backend discrete")
    if args.backend == "embedding":
        if scale is None and lam is None:
            return {}
        from ctrlgen.backends.embedding.guidance import GuidanceConfig

        step = GuidanceConfig().step_size * (1.0 if scale is None else scale)
        return {"guidance": GuidanceConfig(step_size=step, **({} if lam is None else {"fluency_weight": lam}))}
    if scale is not None or lam is not None:
        raise ConfigError(f"--guidance-scale / --fluency-weight do not apply to the {args.backend} backend",
                          "the edit backend ranks revisions by the constraints' checks")
    return {}


def _print(out, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    per = out.report.get("constraints", {})
    for i, text in enumerate(out.texts):
        if as_json:
            rec = {"index": i, "text": text, "well_formed": out.report["well_formed"][i]}
            if per:
                rec["satisfied"] = {name: r["satisfied"][i] for name, r in per.items()}
            if "mbr" in out.report:
                rec["mbr"] = out.report["mbr"][i]
            print(json.dumps(rec, ensure_ascii=False))
        else:
            print(text)


def _cmd_generate(args: argparse.Namespace) -> int:
    from ctrlgen.constraints.specs import parse_constraint

    constraints = [parse_constraint(spec) for spec in args.constraint or []]
    gen = _load(args)
    out = gen.generate(n=args.n, seed=args.seed, sampler=_sampler(args), batch_size=args.batch_size,
                       constraints=constraints or None, progress=sys.stderr.isatty(), **_guidance(args))
    _print(out, args.json)
    return 0


def _cmd_infill(args: argparse.Namespace) -> int:
    from ctrlgen.constraints.specs import parse_constraint

    constraints = [parse_constraint(spec) for spec in args.constraint or []]
    gen = _load(args)
    out = gen.infill(args.template, n=args.n, seed=args.seed, sampler=_sampler(args), batch_size=args.batch_size,
                     constraints=constraints or None, progress=sys.stderr.isatty(), **_guidance(args))
    _print(out, args.json)
    return 0


def _parse_set(items: Sequence[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r} is not key=value", "e.g. --set training.lr=5e-4")
        try:
            out[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = value  # a bare string
    return out


def _cmd_train(args: argparse.Namespace) -> int:
    from ctrlgen.training.run import train_from_config

    overrides = {"data.train": args.data, "output_dir": args.output, "training.steps": args.steps,
                 **_parse_set(args.set or [])}
    if args.output is not None:
        overrides["output_dir"] = str(Path(args.output).resolve())
    final = train_from_config(args.config, overrides, resume=not args.no_resume)
    print(final)
    return 0


def _cmd_env(args: argparse.Namespace) -> int:
    import os
    import platform

    import torch

    from ctrlgen.models.assets import MODELS, resolve_model_path
    from ctrlgen.version import __version__

    print(f"ctrlgen {__version__}")
    print(f"python {platform.python_version()} on {platform.platform()}")
    print(f"torch {torch.__version__} (cuda available: {torch.cuda.is_available()}, threads: {torch.get_num_threads()})")
    for mod in ("transformers", "spacy", "safetensors", "nltk", "numpy"):
        try:
            print(f"{mod} {__import__(mod).__version__}")
        except ImportError:
            print(f"{mod} not installed")
    for name in MODELS:
        try:
            print(f"model {name}: {resolve_model_path(name)}")
        except CtrlgenError as e:
            print(f"model {name}: MISSING ({e.message})")
    print(f"CTRLGEN_DATA={os.environ.get('CTRLGEN_DATA', '(unset)')}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ctrlgen", description="Controllable text generation with diffusion LMs")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress at INFO level")
    sub = p.add_subparsers(dest="command", required=True)

    def sampling_args(q: argparse.ArgumentParser, n: int) -> None:
        q.add_argument("--backend", choices=sorted(BACKEND_MODELS), default=None,
                       help="embedding (Diffusion-LM, default), discrete (SEDD) or edit (DiffusER); "
                            "picks the bundled model when --model is not given")
        q.add_argument("--model", default=None, help="bundled model name or checkpoint directory "
                       "(default: the backend's bundled model, e2e for embedding)")
        q.add_argument("-n", type=_positive_int, default=n, help=f"number of texts (default {n})")
        q.add_argument("--steps", type=_positive_int, default=200, help="denoising steps (default 200)")
        q.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        q.add_argument("--constraint", action="append", metavar="SPEC",
                       help="repeatable: length=14, infill=TEMPLATE, prefix=TEXT, suffix=TEXT;length=N, "
                            "food=Japanese (any E2E field), pos=PROPN,AUX,..., tree=(S ...), span=3:5:PP")
        q.add_argument("--batch-size", type=_positive_int, default=64)
        q.add_argument("--no-clamp", action="store_true", help="disable the clamping trick")
        q.add_argument("--clamp-after", type=float, default=0.0, help="fraction of steps before clamping starts")
        q.add_argument("--rounding", choices=["l2", "logits"], default="l2")
        q.add_argument("--temperature", type=float, default=1.0, help="noise scale of each step (default 1)")
        q.add_argument("--predictor", choices=["analytic", "euler"], default="analytic",
                       help="discrete backend: SEDD predictor (default analytic)")
        q.add_argument("--guidance-scale", type=float, default=None, metavar="G",
                       help="soft constraints' strength: discrete, the rate-reweighting scale γ (default 1); "
                            "embedding, a multiple of the gradient step size (default 1 = 0.1)")
        q.add_argument("--guidance-shortlist", type=int, default=None, metavar="K",
                       help="discrete backend: exact likelihood ratios for the K likeliest jumps per masked "
                            "position (default 4; 0 = first order only, faster)")
        q.add_argument("--fluency-weight", type=float, default=None, metavar="LAMBDA",
                       help="embedding backend: the guidance fluency weight λ (default 0.01)")
        q.add_argument("--beam", type=_beam, default=None, metavar="R,B", help="edit backend: 2D beam (default 3,3)")
        q.add_argument("--json", action="store_true", help="one JSON object per line")

    g = sub.add_parser("generate", help="sample texts from a model (bundled default if --model is not given)")
    sampling_args(g, 8)
    g.set_defaults(func=_cmd_generate)

    f = sub.add_parser("infill", help="fill the [MASK] / [MASK:k] holes of a template (best by MBR first)")
    f.add_argument("template", help='e.g. "The Vaults is a [MASK:3] pub near [MASK] ."')
    sampling_args(f, 4)
    f.set_defaults(func=_cmd_infill)

    t = sub.add_parser("train", help="train a model from a TOML config (resumes from output_dir/latest)")
    t.add_argument("config", help="TOML run config, e.g. recipes/configs/e2e_embedding.toml")
    t.add_argument("--data", help="training CSV (overrides data.train)")
    t.add_argument("--output", help="output directory (overrides output_dir)")
    t.add_argument("--steps", type=_positive_int, help="total training steps (overrides training.steps)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config key, repeatable")
    t.add_argument("--no-resume", action="store_true", help="refuse to continue an existing run")
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("env", help="print versions, bundled models and settings")
    e.set_defaults(func=_cmd_env)

    from ctrlgen.cli.edit import add_parser as add_edit_parser

    add_edit_parser(sub)
    from ctrlgen.cli.evaluate import add_parser as add_evaluation_commands

    add_evaluation_commands(sub)  # evaluate, build-targets
    from ctrlgen.cli.train_classifier import add_parser as add_train_classifier

    add_train_classifier(sub)  # train-classifier
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except CtrlgenError as e:
        print(f"error: {e.message}", file=sys.stderr)
        if e.hint:
            print(f"hint: {e.hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
