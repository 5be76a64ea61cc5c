"""Infilling on held-out E2E references: the discrete (SEDD) and embedding backends side by side in one run.

    CTRLGEN_DATA=/path/to/data python recipes/bench_infill.py --sedd e2e-sedd --embedding e2e \
        --out recipes/results/bench_infill.json

Cases: ``--cases`` references from ``valid.csv`` (seed 0; only references whose words are all in the
models' vocabulary and that fit the sequence length), each with one or two holes of 2–6 words (one word
of context kept between and around them). Both backends get the same templates, ``-n`` samples per case
and the same seed; each returns its samples ordered by minimum Bayes risk and the first one is scored.

Per backend setting: BLEU-4 and ROUGE-L of the filled sentence against the reference, BLEU-4 and ROUGE-L
of the hole words only (the part the model wrote), the share of outputs whose fixed tokens are all
preserved (checked on token ids), the bigram fluency proxy, teacher lm-score, and wall time.
"""

from __future__ import annotations

import argparse
import random
import time

import torch

import ctrlgen  # noqa: E402
from ctrlgen.backends.discrete.sampler import SEDDSampler  # noqa: E402
from ctrlgen.backends.embedding.sampler import EmbeddingSampler
from ctrlgen.constraints.infill import Infill, parse_template  # noqa: E402
from ctrlgen.evaluation.bench import data_dir, machine, write_json  # noqa: E402
from ctrlgen.oracles.fluency import BigramReference  # noqa: E402
from ctrlgen.oracles.metrics import infill_bleu4, infill_rouge_l  # noqa: E402
from ctrlgen.oracles.teacher import Teacher  # noqa: E402
from ctrlgen.text.e2e import read_e2e_csv
from ctrlgen.text.tokenizer import split_words  # noqa: E402


def make_case(words: list[str], rng: random.Random) -> tuple[str, list[int]] | None:
    """A template with one or two holes of 2–6 words (at least one word before, between and after them)
    and the indices of the words the holes cover; None when 50 draws find no layout."""
    m = len(words)
    for _ in range(50):
        lens = [rng.randint(2, 6) for _ in range(rng.choice([1, 2]))]
        starts = sorted(rng.randint(1, max(1, m - 1 - ln)) for ln in lens)
        spans = list(zip(starts, lens, strict=True))  # random lengths, so pairing with sorted starts is fine
        ok = all(s + ln <= m - 1 for s, ln in spans)  # a word after every hole
        ok = ok and all(s2 > s1 + ln1 for (s1, ln1), (s2, _) in zip(spans, spans[1:], strict=False))  # one between
        if not ok:
            continue
        covered = [i for s, ln in spans for i in range(s, s + ln)]
        out, i = [], 0
        while i < m:
            hole = next((ln for s, ln in spans if s == i), None)
            out.append(f"[MASK:{hole}]" if hole else words[i])
            i += hole or 1
        return " ".join(out), covered
    return None


def hole_text(text: str, covered: list[int]) -> str:
    w = split_words(text)
    return " ".join(w[i] for i in covered if i < len(w))


def run_backend(name: str, gen, cases, n: int, sampler, ref: BigramReference, teacher: Teacher) -> dict:
    vocab = gen.tokenizer.vocab
    hyps, all_texts, preserved = [], [], []
    t0 = time.perf_counter()
    for template, _, _ in cases:
        out = gen.infill(template, n=n, seed=0, sampler=sampler)
        hyps.append(out.texts[0])
        all_texts += out.texts
        words, _, _ = parse_template(template)
        for row in out.tokens:
            preserved.append(all(int(row[p]) == vocab.id(w) for p, w in words.items()))
    secs = time.perf_counter() - t0
    refs = [r for _, r, _ in cases]
    holes_h = [hole_text(h, c) for h, (_, _, c) in zip(hyps, cases, strict=True)]
    holes_r = [hole_text(r, c) for _, r, c in cases]
    res = {"backend": name, "steps": sampler.steps, "sampler": type(sampler).__name__,
           "bleu4": infill_bleu4(hyps, refs), "rouge_l": infill_rouge_l(hyps, refs),
           "hole_bleu4": infill_bleu4(holes_h, holes_r), "hole_rouge_l": infill_rouge_l(holes_h, holes_r),
           "fixed_preserved": sum(preserved) / len(preserved),
           "bigram_precision": ref.precision(all_texts), "lm_score": teacher.score(all_texts),
           "seconds": secs, "seconds_per_case": secs / len(cases)}
    # no examples in the JSON: a template is an E2E reference with holes, and the data stays outside the repository
    print(f"{name:10s} {sampler.steps:4d} steps: BLEU-4 {res['bleu4']:.3f} ROUGE-L {res['rouge_l']:.3f} "
          f"hole BLEU-4 {res['hole_bleu4']:.3f} preserved {res['fixed_preserved']:.0%} "
          f"lm {res['lm_score']:.2f} {secs:.0f} s", flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sedd", default="e2e-sedd")
    ap.add_argument("--embedding", default="e2e")
    ap.add_argument("--teacher", default="e2e-teacher-1")
    ap.add_argument("--data")
    ap.add_argument("--cases", type=int, default=100)
    ap.add_argument("-n", type=int, default=4, help="samples per case (MBR picks one)")
    ap.add_argument("--sedd-steps", default="32,64,128")
    ap.add_argument("--embedding-steps", default="100,200")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="recipes/results/bench_infill.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    d = data_dir(args.data) / "e2e"
    ref = BigramReference([e.ref for e in read_e2e_csv(d / "train.csv", parse_mrs=False)])
    sedd, emb = ctrlgen.load(args.sedd), ctrlgen.load(args.embedding)
    teacher = Teacher.load(args.teacher)
    rng = random.Random(0)
    valid = [e.ref for e in read_e2e_csv(d / "valid.csv", parse_mrs=False)]
    rng.shuffle(valid)
    cases = []
    for text in valid:
        words = split_words(text)
        if len(words) + 2 > emb.model.config.seq_len or any(w not in sedd.tokenizer.vocab for w in words):
            continue
        case = make_case(words, rng)
        if case is None:
            continue
        Infill(case[0]).prepare(emb.tokenizer, emb.model.config.seq_len, "embedding")  # raises if it cannot fit
        cases.append((case[0], " ".join(words), case[1]))
        if len(cases) == args.cases:
            break
    rows = [run_backend("discrete", sedd, cases, args.n, SEDDSampler(steps=int(k)), ref, teacher)
            for k in args.sedd_steps.split(",")]
    rows += [run_backend("embedding", emb, cases, args.n, EmbeddingSampler(steps=int(k)), ref, teacher)
             for k in args.embedding_steps.split(",")]
    write_json(args.out, {"sedd": args.sedd, "embedding": args.embedding, "machine": machine(), "seed": 0,
                          "cases": len(cases), "samples_per_case": args.n,
                          "teacher": {"name": teacher.name, "fingerprint": teacher.fingerprint}, "rows": rows})


if __name__ == "__main__":
    main()
