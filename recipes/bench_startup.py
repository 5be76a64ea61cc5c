"""CPU time of the CLI's cheap paths (help, an argument error), optionally beside another checkout of ctrlgen.

```bash
python recipes/bench_startup.py --out recipes/results/bench_startup.json                  # this tree
python recipes/bench_startup.py --other /path/to/old/checkout --out ...                     # both, interleaved
```

Each command runs ``--repeat`` times as ``python -m ctrlgen.cli ARGS`` in a fresh process with ``PYTHONPATH`` set to
the tree; the CPU time is the child's user + system time (``resource.getrusage``), the median over repeats. Runs of
the two trees alternate, so machine load hits both alike; compare the ratio, not absolute seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

COMMANDS = (["--help"], ["generate", "--help"], ["generate", "-n", "0"],
            ["generate", "--seed", "99999999999999999999999"])


def cpu_of(tree: Path, argv: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "ctrlgen.cli", *argv], cwd=tree, capture_output=True, check=False,
                   env={**os.environ, "PYTHONPATH": str(tree)}, timeout=300)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--other", default=None, help="another checkout to time beside this one (e.g. the old layout)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    trees = {"this": Path(__file__).resolve().parents[1]}
    if args.other:
        trees["other"] = Path(args.other).resolve()
    rows = []
    for cmd in COMMANDS:
        times: dict[str, list[float]] = {k: [] for k in trees}
        for _ in range(args.repeat):
            for name, tree in trees.items():
                times[name].append(cpu_of(tree, cmd))
        row = {"command": "ctrlgen " + " ".join(cmd), **{f"{k}_cpu_s": round(statistics.median(v), 3)
                                                           for k, v in times.items()}}
        if "other" in trees:
            row["other_over_this"] = round(row["other_cpu_s"] / max(row["this_cpu_s"], 1e-9), 1)
        rows.append(row)
        print(row)
    res = {"trees": {k: str(v.name) for k, v in trees.items()}, "repeat": args.repeat, "rows": rows}
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()
