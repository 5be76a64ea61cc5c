"""Build the count-noun table behind ``Infill``'s check (:mod:`ctrlgen.oracles.count_nouns`) from a corpus.

The bundled table ``ctrlgen/assets/oracles/e2e-count-nouns.safetensors`` is E2E ``train.csv`` (the text every
bundled model was trained on), parsed with the phrase oracle's spaCy pipeline and hashed — no text is stored::

    CTRLGEN_DATA=/path/to/data OMP_NUM_THREADS=1 python recipes/build_count_nouns.py
    # another corpus (one text per line)
    python recipes/build_count_nouns.py --texts my_corpus.txt --out my-count-nouns.safetensors

Deterministic (spaCy's CPU parse; no seed). ``--show`` prints the nouns found (to read, never to commit).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ctrlgen.evaluation.bench import corpus_texts
from ctrlgen.oracles.count_nouns import BUNDLED_NOUNS, MAX_BARE, MIN_USES, CountNouns
from ctrlgen.text.tokenizer import split_words


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=None, help="the data folder (default: $CTRLGEN_DATA)")
    p.add_argument("--texts", default=None, help="a text file, one text per line, instead of E2E train.csv")
    p.add_argument("--min-uses", type=int, default=MIN_USES)
    p.add_argument("--max-bare", type=float, default=MAX_BARE)
    p.add_argument("--show", action="store_true")
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "ctrlgen" / "assets" / "oracles"
                                        / f"{BUNDLED_NOUNS}.safetensors"))
    args = p.parse_args()
    torch.set_num_threads(1)
    texts, source = corpus_texts(args.data, args.texts)
    table = CountNouns.from_texts(texts, min_uses=args.min_uses, max_bare=args.max_bare, source=source)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.save(args.out)
    if args.show:
        words = sorted({w.lower() for t in texts for w in split_words(t) if table.needs_determiner(w)})
        print(" ".join(words))
    print(f"{len(texts)} texts -> {len(table.words)} nouns that take a determiner -> {args.out} ({table.source})")


if __name__ == "__main__":
    main()
