"""Build the word-pair table behind ``Infill``'s check (:mod:`ctrlgen.oracles.word_pairs`) from a corpus.

The bundled table ``ctrlgen/assets/oracles/e2e-word-pairs.safetensors`` is E2E ``train.csv`` (the text every
bundled model was trained on), hashed — no text of the corpus is stored::

    CTRLGEN_DATA=/path/to/data python recipes/build_word_pairs.py
    # another corpus (one text per line)
    python recipes/build_word_pairs.py --texts my_corpus.txt --out my-pairs.safetensors
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from ctrlgen.evaluation.bench import data_dir
from ctrlgen.oracles.word_pairs import BUNDLED, WordPairs
from ctrlgen.text.e2e import read_e2e_csv


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=None, help="the data folder (default: $CTRLGEN_DATA)")
    p.add_argument("--texts", default=None, help="a text file, one text per line, instead of E2E train.csv")
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "ctrlgen" / "assets" / "oracles"
                                        / f"{BUNDLED}.safetensors"))
    args = p.parse_args()
    if args.texts:
        path = Path(args.texts)
        texts = [t for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]
    else:
        path = data_dir(args.data) / "e2e" / "train.csv"
        texts = [e.ref for e in read_e2e_csv(path)]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    table = WordPairs.from_texts(texts, source=f"{path.name} sha256:{digest}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.save(args.out)
    print(f"{len(texts)} texts -> {len(table.pairs)} pairs, {len(table.words)} words -> {args.out} ({table.source})")


if __name__ == "__main__":
    main()
