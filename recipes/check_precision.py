"""How often does ``report["satisfied"]`` mean what a user means? Precision of the check faces against hand labels.

Two steps (issue 18, item 4):

1. ``generate``: draw outputs from the bundled models under ``SemanticField`` and ``Infill`` constraints, in the
   way a user would (guided generation on ``e2e``, token guidance on ``e2e-sedd``, edits with ``e2e-edit``,
   infilling on ``e2e`` / ``e2e-sedd``), and write them **without any verdict** to a JSONL file::

       CTRLGEN_DATA=/path/to/data OMP_NUM_THREADS=1 python recipes/check_precision.py generate \\
           --out tests/fixtures/check_labels.jsonl

2. A person reads every line and adds ``"label": true`` (the text says ``field = value`` as that field / the
   filled text is a well-formed sentence with the template's words) or ``false``, plus an optional ``"why"``.
   The labelled file is ``tests/fixtures/check_labels.jsonl``; how it was labelled is in its first line.
   Later sets draw the same way with other seeds and requests: ``--seed 100`` (held-out), ``--seed 200
   --templates fresh --infill-rounds 2`` (fresh), ``--seed 300 --templates fourth --fields fourth
   --infill-rounds 2 --semantic-rounds 2`` (the fourth, blind set), ``--seed 500 --templates fifth --fields fifth
   --infill-rounds 2`` (the fifth, blind set), ``--seed 600 --templates sixth --fields sixth --infill-rounds 2`` (the
   sixth, blind set), ``--seed 700 --templates seventh --fields seventh --infill-rounds 2`` (the seventh, blind set),
   ``--seed 800 --templates eighth --fields eighth --infill-rounds 2`` (the eighth, blind set), ``--seed 900
   --templates ninth --fields ninth --infill-rounds 2`` (the ninth), ``--seed 1000 --templates tenth --fields tenth
   --infill-rounds 4 --semantic-rounds 2`` (the tenth), ``--seed 1100 --templates eleventh --fields eleventh
   --infill-rounds 4 --semantic-rounds 2`` (the eleventh), ``--seed 1200 --templates twelfth --fields twelfth
   --infill-rounds 6 --semantic-rounds 2`` (the twelfth). The requests of every set are in ``recipes/check_sets.py``.

3. ``score``: the precision of ``satisfied`` (of the outputs the check accepts, the share the label accepts),
   its recall and accuracy, per constraint kind — for the library's check and, side by side, for the plain
   whole-word match it replaced (Diffusion-LM's ``semantic_success``; for infill, template words in place)::

       python recipes/check_precision.py score --labels tests/fixtures/check_labels.jsonl \\
           --out recipes/results/check_precision.json
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

import torch

import ctrlgen
from ctrlgen import GuidanceConfig, Infill, SemanticField
from ctrlgen.evaluation.bench import data_dir, machine, write_json
from ctrlgen.oracles.metrics import semantic_success
from ctrlgen.text.e2e import read_e2e_csv

# recipes/ is on sys.path when run as a script
from check_sets import FIELD_SETS, TEMPLATE_SETS  # noqa: E402

def generate(args: argparse.Namespace) -> None:
    base = args.seed
    torch.manual_seed(base)
    rows: list[dict[str, Any]] = []
    r = random.Random(base)

    def add(backend: str, constraint: str, kind: str, texts: list[str], **extra: Any) -> None:
        rows.extend({"backend": backend, "kind": kind, "constraint": constraint, "text": t, **extra} for t in texts)

    emb, sedd, editor = ctrlgen.load("e2e"), ctrlgen.load("e2e-sedd"), ctrlgen.load("e2e-edit")
    fields = FIELD_SETS[args.fields]
    valid = [e for e in read_e2e_csv(data_dir(args.data) / "e2e" / "valid.csv") if len(e.ref.split()) <= 30]
    for rnd in range(args.semantic_rounds):  # round 0 keeps the seeds of the earlier sets; round j adds 1000 * j
        s0 = base + 1000 * rnd
        for k, (f, v) in enumerate(fields):
            c = SemanticField(f, v)
            guide = GuidanceConfig.full(step_size=0.1)  # the setting the labelled sets were drawn with
            out = emb.generate(n=2, steps=args.steps, seed=s0 + k, constraints=c, guidance=guide)
            add("embedding", repr(c), "semantic", out.texts, field=f, value=v)
            out = sedd.generate(n=2, steps=64, seed=s0 + k, constraints=c)
            add("discrete", repr(c), "semantic", out.texts, field=f, value=v)
        for k, (f, v) in enumerate(fields * 2):
            src = r.choice(valid).ref
            out = editor.edit(src, constraints=SemanticField(f, v), n=1, seed=s0 + k)
            add("edit", repr(SemanticField(f, v)), "semantic", out.texts, field=f, value=v)  # no source: data stays out
    for k, tpl in enumerate(TEMPLATE_SETS[args.templates] * args.infill_rounds):
        c = Infill(tpl)
        add("discrete", repr(c), "infill", sedd.infill(tpl, n=3, steps=64, seed=base + k).texts, template=tpl)
        add("embedding", repr(c), "infill", emb.infill(tpl, n=2, steps=args.steps, seed=base + k).texts, template=tpl)
        add("edit", repr(c), "infill", editor.infill(tpl, n=1, seed=base + k).texts, template=tpl)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps({"id": i, **row}, ensure_ascii=False) + "\n" for i, row in enumerate(rows))
    print(f"{len(rows)} outputs -> {args.out}")


def _old_check(row: dict[str, Any]) -> bool:
    """What the library said before the slot and well-formedness checks (issue 18 item 4)."""
    if row["kind"] == "semantic":
        return semantic_success(row["text"], row["value"])
    return Infill(row["template"]).score([row["text"]])[0] == 1.0


def _new_check(row: dict[str, Any]) -> bool:
    if row["kind"] == "semantic":
        return SemanticField(row["field"], row["value"]).satisfied([row["text"]])[0]
    return Infill(row["template"]).satisfied([row["text"]])[0]


def _rates(pairs: list[tuple[bool, bool]]) -> dict[str, Any]:
    tp = sum(c and lab for c, lab in pairs)
    fp = sum(c and not lab for c, lab in pairs)
    fn = sum(lab and not c for c, lab in pairs)
    return {"n": len(pairs), "accepted": tp + fp, "true_pos": tp, "false_pos": fp, "false_neg": fn,
            "precision": round(tp / (tp + fp), 4) if tp + fp else None,
            "recall": round(tp / (tp + fn), 4) if tp + fn else None,
            "accuracy": round(sum(c == lab for c, lab in pairs) / len(pairs), 4)}


def _score_set(labels: str) -> dict[str, Any]:
    lines = [json.loads(x) for x in Path(labels).read_text(encoding="utf-8").splitlines() if x.strip()]
    rows = [x for x in lines if "label" in x]
    result: dict[str, Any] = {"labels": labels, "protocol": lines[0].get("protocol"), "kinds": {}}
    for kind in sorted({x["kind"] for x in rows}):
        sub = [x for x in rows if x["kind"] == kind]
        result["kinds"][kind] = {
            "library_check": _rates([(_new_check(x), x["label"]) for x in sub]),
            "whole_word_match (before)": _rates([(_old_check(x), x["label"]) for x in sub]),
            "false_positives": [x["text"] for x in sub if _new_check(x) and not x["label"]],
        }
    return result


def score(args: argparse.Namespace) -> None:
    """One labels file: its result (as before); several: ``{"sets": {file stem: result}}`` and a summary table."""
    if len(args.labels) == 1:
        result = {**_score_set(args.labels[0]), "machine": machine()}
        write_json(args.out, result)
        print(json.dumps(result["kinds"], indent=1, ensure_ascii=False))
        return
    sets = {Path(p).stem: _score_set(p) for p in args.labels}
    write_json(args.out, {"command": "python recipes/check_precision.py score --labels " + " ".join(args.labels)
                          + f" --out {args.out}", "machine": machine(), "sets": sets})
    for name, r in sets.items():
        print(name, "  ".join(f"{k}: precision {v['library_check']['precision']} recall {v['library_check']['recall']}"
                              f" ({v['library_check']['false_pos']} FP of {v['library_check']['accepted']})"
                              for k, v in r["kinds"].items()))


def _rounds(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"rounds must be at least 1, got {n}: use 1 to draw each request once")
    return n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--data", default=None)
    g.add_argument("--steps", type=int, default=50)
    g.add_argument("--seed", type=int, default=0,
                   help="added to every seed: 0 made the first set, 100 the held-out, 200 the fresh, 300 the fourth, "
                        "500 the fifth, 600 the sixth, 700 the seventh, 800 the eighth, 900 the ninth, 1000 the tenth, 1100 the eleventh, 1200 the twelfth")
    g.add_argument("--templates", choices=tuple(TEMPLATE_SETS), default="first",
                   help="infill templates: those of the first two sets, the third (fresh), the fourth to twelfth sets'")
    g.add_argument("--fields", choices=tuple(FIELD_SETS), default="first",
                   help="SemanticField requests: those of the first three sets, the fourth to twelfth sets'")
    g.add_argument("--infill-rounds", type=_rounds, default=1, help="draw each template's infills this many times")
    g.add_argument("--semantic-rounds", type=_rounds, default=1,
                   help="draw each SemanticField request this many times (round j adds 1000 * j to its seeds)")
    g.add_argument("--out", required=True)
    s = sub.add_parser("score")
    s.add_argument("--labels", required=True, nargs="+", help="one labels file, or several (one JSON, per set)")
    s.add_argument("--out", required=True)
    args = p.parse_args()
    generate(args) if args.cmd == "generate" else score(args)


if __name__ == "__main__":
    main()
