"""``ctrlgen describe "MR" [-n 4] [--backend B] [--allow-unk] [--json]``: descriptions of a meaning representation.

    ctrlgen describe "name[The Vaults], eatType[pub], food[Japanese], near[Café Adriatic]" -n 4 --backend discrete

The E2E data-to-text task done with an unconditional model plus constraints: the MR is parsed by
:meth:`ctrlgen.constraints.mr.MR.parse` (an unknown field gets a "did you mean", an empty or repeated field is
refused: exit status 2 with the message and a hint, before any model is loaded) and becomes the conjunction of
one ``SemanticField`` per field, composed with any ``--constraint`` (a second value for an MR field is refused).
The samples are then ordered best first — every field realised first, then by the number of fields realised,
then in the backend's own order — and each is printed with a per-field report from the slot check
(:meth:`MR.check`, the check face of ``SemanticField``; a field is never reported realised without it).

Output: plain, the text on stdout and ``  ✓ name  ✓ eatType  ✗ food  (2/3)`` on stderr after it, so that
``> file`` keeps only the texts; ``--json``, one object per line: ``{"index", "text", "fields": {field: bool},
"satisfied"}`` — ``index`` is the sample's place in the backend's output, ``satisfied`` whether every field (and
every ``--constraint``) is met. ``--allow-unk`` places out-of-vocabulary value words as ``[UNK]`` and writes
them back into the text instead of refusing the MR. The shared sampling arguments (``--backend``, ``--model``,
``--steps``, ``--seed``, each backend's flags ...) come from :mod:`ctrlgen.cli.arguments`.

Like ``evaluate``, this module imports the API at its top (the project keeps no function-local ctrlgen imports), so
``ctrlgen describe --help`` costs the torch import; ``ctrlgen --help`` and the other commands do not load it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from ctrlgen.cli.arguments import check_sampling, rerank_arguments, sampling_arguments
from ctrlgen.cli.generate import call_kwargs, load_for, parse_constraints
from ctrlgen.cli.stream import Stream, accepts, progress_mode, set_threads
from ctrlgen.constraints.base import OutOfVocabularyError
from ctrlgen.constraints.composition import as_constraint
from ctrlgen.constraints.mr import MR
from ctrlgen.errors import ConfigError

EXAMPLE = "ctrlgen describe 'name[The Vaults], eatType[pub], food[Japanese]' -n 4"


def describe_arguments(q: argparse.ArgumentParser) -> None:
    """``ctrlgen describe MR [--allow-unk]`` and the sampling arguments of ``generate`` (``-n`` defaults to 4)."""
    q.add_argument("mr", nargs="?", default=None,
                   help="meaning representation, e.g. 'name[The Vaults], eatType[pub], food[Japanese]'")
    q.add_argument("--allow-unk", action="store_true",
                   help="place words the model does not know as [UNK] and write them back into the text "
                        "(default: refuse them with the list of such words)")
    sampling_arguments(q, 4, "Results are printed at the end, best first (every field realised first, then "
                        "by the number of fields realised).")
    rerank_arguments(q)
    q.set_defaults(check=check_describe)


def check_describe(args: argparse.Namespace) -> None:
    """The MR is given; the shared options and backend flags are valid (``check_sampling``) — before loading."""
    if args.mr is None or not args.mr.strip():
        raise ConfigError("describe needs a meaning representation", f"e.g. {EXAMPLE}")
    check_sampling(args)


def rank(fields: Sequence[dict[str, bool]], satisfied: Sequence[bool]) -> list[int]:
    """Sample indices best first: ``satisfied`` first, then more fields realised, then the backend's order."""
    return sorted(range(len(fields)), key=lambda i: (not satisfied[i], -sum(fields[i].values()), i))


def records(texts: Sequence[str], fields: Sequence[dict[str, bool]], report: dict[str, Any]) -> list[dict[str, Any]]:
    """One record per sample, best first: ``{"index", "text", "fields", "satisfied"}`` (``satisfied``: every field
    realised and every other constraint of the call met, as the report says)."""
    overall = report.get("satisfied", [True] * len(texts))
    satisfied = [all(f.values()) and bool(ok) for f, ok in zip(fields, overall, strict=True)]
    return [{"index": i, "text": texts[i], "fields": fields[i], "satisfied": satisfied[i]}
            for i in rank(fields, satisfied)]


def field_line(rec: dict[str, Any]) -> str:
    """``  ✓ name  ✓ eatType  ✗ food  (2/3)``."""
    marks = "  ".join(f"{'✓' if ok else '✗'} {field}" for field, ok in rec["fields"].items())
    return f"  {marks}  ({sum(rec['fields'].values())}/{len(rec['fields'])})"


def show(recs: list[dict[str, Any]], as_json: bool) -> None:
    """Print ``recs`` (best first): JSON lines, or each text on stdout with its field line on stderr."""
    for rec in recs:
        if as_json:
            print(json.dumps(rec, ensure_ascii=False), flush=True)
            continue
        print(rec["text"], flush=True)
        print(field_line(rec), file=sys.stderr, flush=True)
    if not as_json:
        print(f"{sum(r['satisfied'] for r in recs)}/{len(recs)} descriptions realise every field", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """``ctrlgen describe``: parse the MR, load the model, sample, rank and print."""
    mr = MR.parse(args.mr)
    constraint = as_constraint([mr.constraint(allow_unk=args.allow_unk), *parse_constraints(args)])  # conflicts
    gen = load_for(args)
    set_threads(args.threads)
    kwargs = call_kwargs(args, gen)
    with Stream("describe", kwargs["n"], args.json, stream=False, lines=progress_mode(args.quiet)[1]) as progress:
        if accepts(gen.generate, "on_batch"):
            kwargs["on_batch"] = progress
        try:
            if args.rerank > 1:  # n of n × R by the checks (distinct first, --fluency ties): no progress per batch
                kwargs.pop("on_batch", None)
                out = gen.best_of(constraints=constraint, rerank=args.rerank, fluency=args.fluency,
                                  fluency_trade=args.fluency_trade, **kwargs)
            else:
                out = gen.generate(constraints=constraint, **kwargs)
        except OutOfVocabularyError as e:  # the API's hint names allow_unk=True; here it is a flag
            raise OutOfVocabularyError(e.message, "pass --allow-unk to place them as [UNK] and write them back "
                                       "into the text, or use words the model knows", e.words) from None
    show(records(out.texts, mr.check(out.texts), out.report), args.json)
    return 0
