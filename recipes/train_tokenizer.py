"""Train a tokenizer on the E2E training texts and write it as a Hugging Face tokenizer directory.

    CTRLGEN_DATA=/path/to/data python recipes/train_tokenizer.py --kind bpe --vocab-size 1024 --out runs/tok-bpe
    CTRLGEN_DATA=/path/to/data python recipes/train_tokenizer.py --kind word --min-count 5 --out runs/tok-word

Writes ``tokenizer.json`` (loadable by ``PreTrainedTokenizerFast(tokenizer_file=...)``),
``tokenizer_config.json`` and ``special_tokens_map.json`` into ``--out``; ``ctrlgen.text.loader.load_tokenizer``
reads it back. Prints (and with ``--report`` writes as JSON) the vocabulary size, subwords per spaCy word on
``valid.csv`` and the share of ``valid.csv`` texts that ``decode(encode(text))`` gives back exactly.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ctrlgen.evaluation.bench import data_dir
from ctrlgen.text.bpe import DEFAULT_VOCAB_SIZE, BPETokenizer
from ctrlgen.text.e2e import file_fingerprint, read_e2e_csv
from ctrlgen.text.tokenizer import Tokenizer, split_words


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kind", choices=["bpe", "word"], default="bpe")
    ap.add_argument("--vocab-size", type=int, default=DEFAULT_VOCAB_SIZE, help="bpe: tokens, specials included")
    ap.add_argument("--min-frequency", type=int, default=2, help="bpe: a merge must occur this often")
    ap.add_argument("--min-count", type=int, default=5, help="word: keep words seen this often")
    ap.add_argument("--data", help="data folder (default: $CTRLGEN_DATA)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--report", type=Path, help="also write the numbers as JSON here")
    args = ap.parse_args()
    root = data_dir(args.data) / "e2e"
    train = [e.ref for e in read_e2e_csv(root / "train.csv", parse_mrs=False)]
    if args.kind == "bpe":
        tok = BPETokenizer.train(train, vocab_size=args.vocab_size, min_frequency=args.min_frequency)
    else:
        tok = Tokenizer.train(train, min_count=args.min_count)
    args.out.mkdir(parents=True, exist_ok=True)
    tok.save(args.out)
    valid = [e.ref for e in read_e2e_csv(root / "valid.csv", parse_mrs=False)]
    words = sum(len(split_words(t)) for t in valid)
    tokens = sum(len(tok.tokenize(t)) for t in valid)
    exact = sum(tok.decode(tok.encode(t)) == t for t in valid)
    report = {"kind": args.kind, "vocab_size": len(tok), "train_texts": len(train),
              "train_fingerprint": file_fingerprint(root / "train.csv"), "valid_texts": len(valid),
              "tokens_per_word_valid": round(tokens / max(1, words), 4),
              "roundtrip_exact_valid": round(exact / max(1, len(valid)), 4), "out": str(args.out)}
    print(json.dumps(report, indent=1))
    if args.report:
        args.report.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
