"""Build the value-context table behind ``SemanticField``'s check (:mod:`ctrlgen.oracles.value_contexts`).

The bundled table ``ctrlgen/assets/oracles/e2e-value-contexts.safetensors`` is E2E ``train.csv`` (the text every
bundled model was trained on), hashed — no text of the corpus is stored::

    CTRLGEN_DATA=/path/to/data python recipes/build_value_contexts.py
    # another corpus in the E2E layout (columns mr, ref)
    python recipes/build_value_contexts.py --csv my_data.csv --out my-contexts.safetensors
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from ctrlgen.evaluation.bench import data_dir
from ctrlgen.oracles.value_contexts import BUNDLED_CONTEXTS, ValueContexts
from ctrlgen.text.e2e import read_e2e_csv


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=None, help="the data folder (default: $CTRLGEN_DATA)")
    p.add_argument("--csv", default=None, help="a CSV in the E2E layout (mr, ref) instead of E2E train.csv")
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "ctrlgen" / "assets" / "oracles"
                                        / f"{BUNDLED_CONTEXTS}.safetensors"))
    args = p.parse_args()
    path = Path(args.csv) if args.csv else data_dir(args.data) / "e2e" / "train.csv"
    examples = [(e.mr, e.ref) for e in read_e2e_csv(path)]
    source = f"{path.name} sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}"
    table = ValueContexts.from_examples(examples, source=source)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.save(args.out)
    Path(args.out).chmod(0o644)
    print(f"{len(examples)} examples -> {len(table.contexts)} contexts -> {args.out} ({table.source})")


if __name__ == "__main__":
    main()
