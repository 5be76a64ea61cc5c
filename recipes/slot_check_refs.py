"""The slot check on human references: recall of each reference's own MR, false positives on the field's other values.

``SemanticField``'s check face (:func:`ctrlgen.oracles.slots.slot_realised`) should accept what an E2E reference
says and nothing it does not. For every reference of a split and every field of its MR:

- **recall**: the check accepts the reference's own value (``name[The Mill]`` → ``slot_realised(ref, "name",
  "The Mill")``);
- **false-positive rate**: the check accepts another value of the same field that the split uses (``food[Italian]``
  for a reference of ``food[Japanese]``). Values of the same :data:`~ctrlgen.oracles.slots.EXCLUSIVE` group
  (``cheap`` / ``less than £20``) are the same meaning and are left out; a reference may say more than its MR
  (E2E references sometimes add a slot), so this rate is an upper bound on the check's own error.

Counts per field, no reference text, in the JSON::

    CTRLGEN_DATA=/path/to/data OMP_NUM_THREADS=1 python recipes/slot_check_refs.py \\
        --splits valid train --out recipes/results/slot_check_refs.json

``--show N`` prints up to N misses and false positives per field to stdout (to read, never to commit).
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from typing import Any

from ctrlgen.evaluation.bench import data_dir, machine, write_json
from ctrlgen.oracles.slots import EXCLUSIVE, slot_realised
from ctrlgen.text.e2e import E2EExample, read_e2e_csv


def _same_meaning(field: str, a: str, b: str) -> bool:
    return a == b or any(a in g and b in g for g in EXCLUSIVE.get(field, ()))


def measure(examples: list[E2EExample], show: int = 0) -> dict[str, Any]:
    """Per field: recall on the references' own values, false-positive rate on the field's other values."""
    values: dict[str, set[str]] = defaultdict(set)
    for e in examples:
        for f, v in e.mr.items():
            values[f].add(v)
    out: dict[str, Any] = {}
    for field in sorted(values):
        hit = own = fp = other = 0
        misses: list[tuple[str, str]] = []
        wrong: list[tuple[str, str]] = []
        for e in examples:
            if field not in e.mr:
                continue
            v = e.mr[field]
            own += 1
            if slot_realised(e.ref, field, v):
                hit += 1
            elif len(misses) < show:
                misses.append((v, e.ref))
            for w in sorted(values[field]):
                if _same_meaning(field, v, w):
                    continue
                other += 1
                if slot_realised(e.ref, field, w):
                    fp += 1
                    if len(wrong) < show:
                        wrong.append((f"{w} (MR: {v})", e.ref))
        out[field] = {"references": own, "recall": round(hit / own, 4), "other_value_checks": other,
                      "false_positives": fp, "false_positive_rate": round(fp / other, 5) if other else None}
        for what, rows in (("MISS", misses), ("FALSE POSITIVE", wrong)):
            for v, ref in rows:
                print(f"{field} {what} {v}: {ref}")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=None)
    p.add_argument("--splits", nargs="+", default=["valid"], choices=("valid", "train"))
    p.add_argument("--show", type=int, default=0, help="print up to N misses / false positives per field")
    p.add_argument("--out", default="recipes/results/slot_check_refs.json")
    args = p.parse_args()
    result: dict[str, Any] = {"data": "E2E references (e2e/<split>.csv)", "machine": machine(), "splits": {}}
    for split in args.splits:
        examples = read_e2e_csv(data_dir(args.data) / "e2e" / f"{split}.csv")
        t0 = time.process_time()
        result["splits"][split] = {"references": len(examples), "fields": measure(examples, args.show),
                                   "cpu_seconds": round(time.process_time() - t0, 1)}
    write_json(args.out, result)
    for split, r in result["splits"].items():
        for field, m in r["fields"].items():
            print(f"{split:5s} {field:16s} recall {m['recall']:.4f}  false-pos {m['false_positives']:4d} / "
                  f"{m['other_value_checks']:6d} = {m['false_positive_rate']}")


if __name__ == "__main__":
    main()
