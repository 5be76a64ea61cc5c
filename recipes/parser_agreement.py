"""How far two independently trained parser oracles agree (issue 14: an oracle the control numbers do not depend on alone).

    OMP_NUM_THREADS=1 CTRLGEN_DATA=/path/to/data python recipes/parser_agreement.py
    python recipes/parser_agreement.py --texts outputs.json    # (c): also the agreement on generated texts

Parsers: ``--parser-a`` (default the bundled ``parser-ptb-sample``, split seed ``--seed-a`` 0) and ``--parser-b``
(default ``parser-ptb-sample-2``, split seed ``--seed-b`` 1); both are benepar char-LSTM ``ChartParser`` models trained
by ``recipes/train_parser.py`` on the NLTK treebank sample, each on its own file-level split. No other constituency
parser can be had offline here, so the second oracle is a second model, not a second program.

(a) ``e2e``: ``--n`` distinct ``valid.csv`` references (a seeded sample, ``--sample-seed``) parsed by both; labelled
    brackets of one against the other (:func:`ctrlgen.oracles.parser.agreement`; every word counted, and EVALB's
    punctuation deleted by either parser's tags), sentences with identical brackets %, POS-tag agreement %, and the
    share of one parser's constituent spans (with their unary chains, as the spans task scores them) that the other
    also builds.
(b) ``treebank``: each parser's EVALB F1 (:func:`train_parser.evaluate`, gold tags for punctuation) on the other's
    held-out test sentences that come from files outside its own training files (the splits are by file; the
    overlap is counted), next to the other parser's F1 on the same sentences; and both on the files neither trained
    on (their test or dev files; dev chose the best epoch, so it is not fully unseen).
(c) ``texts`` (with ``--texts``): a JSON object whose values are lists of texts (nested objects allowed; keys joined
    with ``/``), e.g. one list per task or per task and row: the same agreement numbers per key.

The JSON (``--out``) holds counts and scores only: no sentences, trees or tags. CPU seconds of each parser on (a) are
measured in this one process, side by side.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import logging
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ctrlgen.evaluation.bench import data_dir, machine
from ctrlgen.oracles.metrics import constituent_spans, labelled_brackets
from ctrlgen.oracles.parser import (
    DEFAULT_PARSER,
    SECOND_PARSER,
    ConstituencyParser,
    agreement,
    clean_ptb_tree,
)
from ctrlgen.text.e2e import read_e2e_csv
from ctrlgen.text.tokenizer import split_words

sys.path.insert(0, str(Path(__file__).resolve().parent))  # train_parser: the split and the EVALB scorer of the models
import train_parser

log = logging.getLogger("parser_agreement")
RESULTS = Path(__file__).resolve().parent / "results"


def pair_stats(a: Sequence[Any], b: Sequence[Any]) -> dict[str, Any]:
    """Agreement of two parsers' trees of the same word lists (``a``, ``b``: one ``nltk.Tree`` each)."""
    pct = lambda x: round(100 * x, 2)
    allw, punct_a, punct_b = agreement(a, b), agreement(a, b, punct_from=a), agreement(a, b, punct_from=b)
    tags = [(x == y) for ta, tb in zip(a, b, strict=True) for (_, x), (_, y) in zip(ta.pos(), tb.pos(), strict=True)]
    spans_a = [set(constituent_spans(t)) for t in a]
    spans_b = [set(constituent_spans(t)) for t in b]
    both = sum(len(x & y) for x, y in zip(spans_a, spans_b, strict=True))
    return {"sentences": len(a), "words": len(tags),
            "bracket_f1": pct(allw.f1), "brackets": {"matched": allw.matched, "a": allw.pred, "b": allw.gold},
            "a_brackets_in_b": pct(allw.precision), "b_brackets_in_a": pct(allw.recall),
            "bracket_f1_punct_by_a_tags": pct(punct_a.f1), "bracket_f1_punct_by_b_tags": pct(punct_b.f1),
            "identical_brackets": pct(sum(labelled_brackets(x, punct_tags=()) == labelled_brackets(y, punct_tags=())
                                          for x, y in zip(a, b, strict=True)) / max(1, len(a))),
            "tag_agreement": pct(sum(tags) / max(1, len(tags))),
            "a_spans_in_b": pct(both / max(1, sum(map(len, spans_a)))),
            "b_spans_in_a": pct(both / max(1, sum(map(len, spans_b))))}


def e2e_agreement(pa: ConstituencyParser, pb: ConstituencyParser, valid: Path, n: int, seed: int) -> dict[str, Any]:
    """(a): ``n`` distinct held-out references parsed by both."""
    refs = list(dict.fromkeys(e.ref for e in read_e2e_csv(valid, parse_mrs=False)))
    sents = [split_words(r) for r in random.Random(seed).sample(refs, min(n, len(refs)))]
    sents = [s for s in sents if 0 < len(s) <= min(pa.max_words, pb.max_words)]
    trees, cpu = [], {}
    for name, p in (("a", pa), ("b", pb)):
        p.parse_uncached(sents[:8])  # warm-up
        c0 = time.process_time()
        trees.append(p.parse_uncached(sents))
        cpu[name] = round(time.process_time() - c0, 2)
    return {"data": "distinct e2e/valid.csv references, seeded sample", "sample_seed": seed, "requested": n,
            **pair_stats(*trees), "cpu_seconds": cpu}


def texts_agreement(pa: ConstituencyParser, pb: ConstituencyParser, path: Path) -> dict[str, Any]:
    """(c): per key of the JSON in ``path`` (values: lists of texts; nested objects give ``a/b`` keys)."""
    groups: dict[str, list[str]] = {}

    def walk(key: str, v: Any) -> None:
        if isinstance(v, list):
            groups[key or "texts"] = [str(t) for t in v]
        elif isinstance(v, dict):
            for k, x in v.items():
                walk(f"{key}/{k}" if key else str(k), x)
        else:
            raise SystemExit(f"{path}: {key or 'the top level'} is neither a list of texts nor an object of them")

    walk("", json.loads(path.read_text()))
    out = {}
    for key, texts in groups.items():
        sents = [s for s in map(split_words, texts) if s]
        out[key] = {"texts": len(texts), **pair_stats(pa.parse(sents), pb.parse(sents))}
    return out


def evalb(p: ConstituencyParser, golds: list[Any]) -> dict[str, Any]:
    r = train_parser.evaluate(p.parse, golds) if golds else None
    return {"sentences": len(golds)} | ({} if r is None else {k: round(v, 2) if isinstance(v, float) else v
                                                                for k, v in r.items()})


def cross_split(pa: ConstituencyParser, pb: ConstituencyParser, root: Path, seeds: tuple[int, int],
                n_test: int, n_dev: int) -> dict[str, Any]:
    """(b): each parser on the other's held-out test files that it did not train on, and both on files neither did."""
    from benepar.ptb_unescape import ptb_unescape

    (_, info_a), (_, info_b) = (train_parser.load_split(root, s, n_test, n_dev) for s in seeds)
    files_a, files_b = info_a["file_ids"], info_b["file_ids"]
    by_file = trees_by_file(root)
    where = lambda f, files: next(k for k, v in files.items() if f in v)
    overlap = {f"a_{x}_b_{y}": len(set(files_a[x]) & set(files_b[y]))
               for x in ("train", "dev", "test") for y in ("train", "dev", "test")}
    out: dict[str, Any] = {"seeds": {"a": seeds[0], "b": seeds[1]},
                           "files": {"a": info_a["files"], "b": info_b["files"]},
                           "sentences": {"a": info_a["sentences"], "b": info_b["sentences"]},
                           "file_overlap": overlap}
    for judge, own, other_name, other_files in (("a", files_a, "b", files_b), ("b", files_b, "a", files_a)):
        usable = [f for f in other_files["test"] if f not in own["train"]]
        golds = [t for f in usable for t in by_file[f]]
        out[f"{judge}_on_{other_name}_test"] = {
            "files": len(usable), "files_excluded_in_train": len(other_files["test"]) - len(usable),
            "usable_files_in_judge_split": {s: sum(where(f, own) == s for f in usable) for s in ("dev", "test")},
            "a": evalb(pa, golds), "b": evalb(pb, golds)}
    neither = [f for f in sorted(by_file) if f not in files_a["train"] and f not in files_b["train"]]
    golds = [t for f in neither for t in by_file[f]]
    words = [ptb_unescape(g.leaves()) for g in golds]
    out["held_out_by_both"] = {"files": len(neither), "a": evalb(pa, golds), "b": evalb(pb, golds),
                               "agreement": pair_stats(pa.parse(words), pb.parse(words)) if golds else None}
    return out


def trees_by_file(root: Path) -> dict[str, list[Any]]:
    """Cleaned ``TOP`` trees of each treebank file (as :func:`train_parser.load_split` cleans them)."""
    import nltk

    nltk.data.path.insert(0, str(root))
    from nltk.corpus import treebank  # nltk is slow to import: only here

    out = {}
    for f in sorted(treebank.fileids()):
        out[f] = [c for c in map(clean_ptb_tree, treebank.parsed_sents(f)) if c is not None]
    return out


def shown_args(argv: Sequence[str]) -> str:
    """The command line as recorded in the results: an absolute path is cut to its file name (no machine paths)."""
    cut = lambda a: Path(a).name if Path(a).is_absolute() else a
    return " ".join(a.split("=", 1)[0] + "=" + cut(a.split("=", 1)[1]) if a.startswith("--") and "=" in a else cut(a)
                    for a in argv)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parser-a", default=str(DEFAULT_PARSER), help="benepar model file (default: the bundled one)")
    ap.add_argument("--parser-b", default=str(SECOND_PARSER), help="benepar model file (default: parser-ptb-sample-2)")
    ap.add_argument("--seed-a", type=int, default=0, help="the treebank split seed parser A was trained with")
    ap.add_argument("--seed-b", type=int, default=1, help="the treebank split seed parser B was trained with")
    ap.add_argument("--n-test", type=int, default=400)
    ap.add_argument("--n-dev", type=int, default=200)
    ap.add_argument("-n", "--n", type=int, default=300, help="E2E references for (a) (default 300)")
    ap.add_argument("--sample-seed", type=int, default=0)
    ap.add_argument("--texts", type=Path, default=None, help="JSON of generated texts for (c)")
    ap.add_argument("--data", help="folder holding e2e/valid.csv (default $CTRLGEN_DATA)")
    ap.add_argument("--nltk-data", default=None, help="NLTK data root (default $NLTK_DATA, else $CTRLGEN_DATA/nltk_data)")
    ap.add_argument("--out", default=str(RESULTS / "parser_agreement.json"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    torch.set_num_threads(1)
    pa, pb = ConstituencyParser(args.parser_a), ConstituencyParser(args.parser_b)
    res: dict[str, Any] = {
        "recipe": "recipes/parser_agreement.py",
        "command": "python recipes/parser_agreement.py " + shown_args(sys.argv[1:] if argv is None else argv),
        "parsers": {"a": Path(args.parser_a).parent.name, "b": Path(args.parser_b).parent.name},  # no machine paths
        "machine": machine(),
        "conventions": "labelled brackets (ctrlgen.oracles.metrics), TOP excluded, unary chains as separate brackets; "
                       "e2e/texts: neither side is gold (F1 symmetric; a_brackets_in_b = precision of A against B); "
                       "treebank: EVALB COLLINS.prm with gold tags, as recipes/train_parser.py"}
    res["e2e"] = e2e_agreement(pa, pb, data_dir(args.data) / "e2e" / "valid.csv", args.n, args.sample_seed)
    log.info("e2e: %s", res["e2e"])
    res["treebank"] = cross_split(pa, pb, train_parser.nltk_root(args.nltk_data), (args.seed_a, args.seed_b),
                                  args.n_test, args.n_dev)
    log.info("treebank: %s", {k: v for k, v in res["treebank"].items() if k != "file_overlap"})
    if args.texts is not None:
        res["texts"] = texts_agreement(pa, pb, args.texts)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps({k: res[k] for k in ("e2e",)}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
