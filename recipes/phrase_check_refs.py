"""``Infill``'s check on human references: how many well-written texts it flags (false alarms), and its cost.

A reference of E2E ``valid.csv`` is a text a person wrote, so every reference the check rejects is (nearly always)
a false alarm. Each reference is checked as the fill of a template in two ways:

- **all free**: every word is a hole (the harshest case: every word pair and every phrase counts);
- **random holes**: ``--rounds`` draws of two holes of 1–3 words each at random places (seeded), the rest fixed —
  closer to how ``Infill`` is used.

Per part of the check — the closed-class rules (:mod:`ctrlgen.oracles.wellformed`, whole text), the word pairs
(:mod:`ctrlgen.oracles.word_pairs`), two known names run together (:mod:`ctrlgen.oracles.name_runs`), the phrase
rules (:mod:`ctrlgen.oracles.phrases`), the count nouns (:mod:`ctrlgen.oracles.count_nouns`) — and for the check
before the last three and after, the JSON holds counts and the row numbers of flagged references, no text::

    CTRLGEN_DATA=/path/to/data OMP_NUM_THREADS=1 python recipes/phrase_check_refs.py \\
        --out recipes/results/phrase_check_refs.json

Cost: CPU milliseconds per text of the rules and pairs and of the phrase rules with the count nouns (cold memo:
parsed for the first time), in one batch and one text per call, side by side in this run. ``--show`` prints the
flagged references and the reasons to stdout (to read, never to commit).
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

import torch

from ctrlgen.evaluation.bench import data_dir, machine, write_json
from ctrlgen.oracles.count_nouns import bundled_count_nouns
from ctrlgen.oracles.memo import clear_memos
from ctrlgen.oracles.name_runs import run_on_names
from ctrlgen.oracles.phrases import load_parse_pipeline, parse_words, phrase_errors_many
from ctrlgen.oracles.wellformed import fragment_errors
from ctrlgen.oracles.word_pairs import bundled_pairs
from ctrlgen.text.e2e import read_e2e_csv
from ctrlgen.text.tokenizer import split_words


def random_holes(n_words: int, rng: random.Random) -> set[int]:
    """Two holes of 1–3 words at random places: their 1-based word positions."""
    free: set[int] = set()
    for _ in range(2):
        k = rng.randint(1, min(3, n_words))
        a = rng.randint(1, n_words - k + 1)
        free |= set(range(a, a + k))
    return free


def flags(sentences: list[list[str]], frees: list[set[int]]) -> dict[str, list[int]]:
    """Row numbers flagged by each part of the check and by the check before / after the phrase rules."""
    pairs = bundled_pairs()
    rules = [bool(fragment_errors(w)) for w in sentences]
    unseen = [bool(pairs.unseen(w, f)) for w, f in zip(sentences, frees, strict=True)]
    names = [bool(run_on_names(pairs, w, f)) for w, f in zip(sentences, frees, strict=True)]
    phrases = [bool(phrase_errors_many([w], f)[0]) for w, f in zip(sentences, frees, strict=True)]
    table = bundled_count_nouns()
    nouns = [bool(table.errors(w, p, {k - 1 for k in f}))
             for w, f, p in zip(sentences, frees, parse_words(sentences), strict=True)]
    rows = range(len(sentences))
    return {"closed_class_rules": [k for k in rows if rules[k]], "word_pairs": [k for k in rows if unseen[k]],
            "name_runs": [k for k in rows if names[k]],
            "phrase_rules": [k for k in rows if phrases[k]], "count_nouns": [k for k in rows if nouns[k]],
            "before (rules + pairs)": [k for k in rows if rules[k] or unseen[k]],
            "after (+ names + phrases + count nouns)": [k for k in rows
                                                        if rules[k] or unseen[k] or names[k] or phrases[k] or nouns[k]]}


def cost(sentences: list[list[str]]) -> dict[str, float]:
    """CPU ms per text: rules + pairs, and the phrase rules cold (memo cleared), batched and one per call."""
    pairs = bundled_pairs()
    load_parse_pipeline()  # loading is a one-off, not a per-text cost
    n = len(sentences)
    t0 = time.process_time()
    for w in sentences:
        fragment_errors(w), pairs.unseen(w, range(1, len(w) + 1)), run_on_names(pairs, w, range(1, len(w) + 1))
    t1 = time.process_time()
    table, every = bundled_count_nouns(), set(range(max(map(len, sentences))))
    clear_memos()
    phrase_errors_many(sentences)
    for w, p in zip(sentences, parse_words(sentences), strict=True):
        table.errors(w, p, every)
    t2 = time.process_time()
    clear_memos()
    for w in sentences:
        phrase_errors_many([w]), table.errors(w, parse_words([w])[0], every)
    t3 = time.process_time()
    clear_memos()
    return {"rules_and_pairs_ms": round((t1 - t0) / n * 1e3, 3),
            "phrase_rules_batched_ms": round((t2 - t1) / n * 1e3, 3),
            "phrase_rules_one_per_call_ms": round((t3 - t2) / n * 1e3, 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=None)
    p.add_argument("--rounds", type=int, default=5, help="random-hole draws per reference")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--show", action="store_true", help="print flagged references and reasons (never commit)")
    p.add_argument("--out", default="recipes/results/phrase_check_refs.json")
    args = p.parse_args()
    torch.set_num_threads(1)
    refs = [e.ref for e in read_e2e_csv(data_dir(args.data) / "e2e" / "valid.csv")]
    sentences = [split_words(r) for r in refs]
    rng = random.Random(args.seed)
    result: dict[str, Any] = {"data": "E2E valid.csv references", "references": len(refs), "seed": args.seed,
                              "machine": machine()}
    every = flags(sentences, [set(range(1, len(w) + 1)) for w in sentences])
    result["all_free"] = {k: {"flagged": len(v), "rows": v} for k, v in every.items()}
    drawn = [random_holes(len(w), rng) for _ in range(args.rounds) for w in sentences]
    many = flags(sentences * args.rounds, drawn)
    result["random_holes"] = {"draws": len(drawn), **{k: {"flagged": len(v)} for k, v in many.items()}}
    result["cpu_ms_per_text"] = cost(sentences)
    write_json(args.out, result)
    if args.show:
        table = bundled_count_nouns()
        for k in sorted(set(every["phrase_rules"]) | set(every["count_nouns"]) | set(every["name_runs"])):
            p = parse_words([sentences[k]])[0]
            print(k, phrase_errors_many([sentences[k]])[0], table.errors(sentences[k], p, set(range(len(p.tags)))),
                  "|", refs[k])
    for name in every:
        print(f"{name:32s} all free {result['all_free'][name]['flagged']:4d} / {len(refs)}   random holes "
              f"{result['random_holes'][name]['flagged']:4d} / {len(drawn)}")
    print(result["cpu_ms_per_text"])


if __name__ == "__main__":
    main()
