"""The bad-input catalogue of issue 18 ("Measure"): run every case of ``tests/catalogue_cases.py`` and write the
counts of outcomes — typed errors, honest results, silent wrong results, tracebacks, hangs — in all, per kind
(cli / api) and per backend, with the list of cases that did not end in a typed error or an honest result and of
those that did not end as expected (a known defect is marked with what should happen).

```bash
python recipes/bad_input_catalogue.py                        # writes recipes/results/bad_input_catalogue.json
python recipes/bad_input_catalogue.py --only cli/constraint  # the cases whose id contains a word
```

The same cases are asserted one by one by ``tests/test_catalogue.py``. Settings are tiny (one text, two steps),
so the run takes about a minute on one CPU core; CTRLGEN_HOME is pointed at an empty folder, as in the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the case list lives beside the test that asserts it


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", default=[], metavar="WORD", help="cases whose id contains WORD")
    ap.add_argument("--out", default=str(ROOT / "recipes" / "results" / "bad_input_catalogue.json"))
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: tiny models)")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory(prefix="catalogue-") as tmp:
        os.environ["CTRLGEN_HOME"] = str(Path(tmp) / "home")  # no user-trained classifier changes an outcome
        os.chdir(ROOT)  # the cases name files relative to the repository (tests/fixtures, recipes/configs)
        from catalogue_cases import CASES
        from catalogue_harness import run_case, summary
        from catalogue_support import Context

        cases = [c for c in CASES if not args.only or any(w in c.id for w in args.only)]
        ctx = Context(Path(tmp) / "scratch")
        t0 = time.perf_counter()
        outcomes = [run_case(c, ctx) for c in cases]
        result = {"command": "python recipes/bad_input_catalogue.py" + "".join(f" --only {w}" for w in args.only),
                  "seconds": round(time.perf_counter() - t0, 1), "threads": args.threads, **summary(cases, outcomes)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    c = result["counts"]
    print(f"{result['cases']} cases in {result['seconds']} s: " + ", ".join(f"{k} {v}" for k, v in c.items()))
    for kind, counts in result["by_kind"].items():
        print(f"  {kind}: " + ", ".join(f"{k} {v}" for k, v in counts.items() if v))
    for row in result["unexpected"]:
        print(f"  unexpected {row['id']}: {row['class']} {row['error'] or ''} ({row['detail'][:100]})"
              + (" [known defect]" if row["known_defect"] else ""))
    return result


if __name__ == "__main__":
    main()
