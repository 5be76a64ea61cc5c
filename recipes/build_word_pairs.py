"""Build the word-pair (and word-triple) table behind ``Infill``'s check (:mod:`ctrlgen.oracles.word_pairs`) from a corpus.

The bundled table ``ctrlgen/assets/oracles/e2e-word-pairs.safetensors`` is E2E ``train.csv`` (the text every
bundled model was trained on), hashed — no text of the corpus is stored::

    CTRLGEN_DATA=/path/to/data python recipes/build_word_pairs.py
    # another corpus (one text per line)
    python recipes/build_word_pairs.py --texts my_corpus.txt --out my-pairs.safetensors
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ctrlgen.evaluation.bench import corpus_texts
from ctrlgen.oracles.word_pairs import BUNDLED, WordPairs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=None, help="the data folder (default: $CTRLGEN_DATA)")
    p.add_argument("--texts", default=None, help="a text file, one text per line, instead of E2E train.csv")
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "ctrlgen" / "assets" / "oracles"
                                        / f"{BUNDLED}.safetensors"))
    args = p.parse_args()
    texts, source = corpus_texts(args.data, args.texts)
    table = WordPairs.from_texts(texts, source=source)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.save(args.out)
    print(f"{len(texts)} texts -> {len(table.pairs)} pairs, {len(table.triples)} triples, {len(table.words)} words "
          f"-> {args.out} ({table.source})")


if __name__ == "__main__":
    main()
