"""Train the bundled replaced-token detector (``ctrlgen/assets/oracles/e2e-rtd``, :mod:`ctrlgen.oracles.replaced_tokens`).

```
CTRLGEN_DATA=/path/to/data OMP_NUM_THREADS=1 python recipes/train_rtd.py --out ctrlgen/assets/oracles/e2e-rtd
```

1. **Corruptions** of the references of ``e2e/train.csv`` (``valid.csv`` for the held-out numbers), drawn once with the
   bundled masked diffusion LM ``e2e-masked`` and cached (``--cache``, a ``.pt`` file outside the repository). Per
   reference ``--draws`` corruptions, each one of: ``electra`` — 15–30% of the words masked and each filled by one
   sample of the model's per-position distribution at temperature 2, all in one forward (ELECTRA's generator;
   neighbours filled independently need not agree, as a diffusion model's parallel steps); ``span1`` — a span of 1–4
   words re-filled in one forward, temperature 2 (a hole filled in one step); ``spanN`` — the same span filled one
   word per forward, left to right, temperature 1 (a careful fill); ``random`` — 10–20% of the words replaced by
   uniformly drawn vocabulary words; ``edit`` — a word dropped (the word after the gap is labelled), doubled (the copy) or two
   neighbours swapped (both); ``clean`` — unchanged. Labels: the word at a position differs from the reference's.
2. **Training**: the detector of ``replaced_tokens`` (4 × 128) with per-word binary cross-entropy, batches of equal
   length (no padding), AdamW, warmup then cosine, one CPU thread, fixed seed.
3. **Held-out**: word accuracy and AUC on corruptions of ``valid.csv`` references, per kind, and the largest word score
   of clean references; the weights are written in float16 and the numbers re-measured from the written files.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import ctrlgen
from ctrlgen.models.pretrained import save_pretrained
from ctrlgen.oracles.replaced_tokens import (
    DetectorConfig,
    ReplacedTokenDetector,
    load_detector,
)
from ctrlgen.text.e2e import file_fingerprint, read_e2e_csv
from ctrlgen.text.tokenizer import split_words

KINDS = {"electra": 0.3, "span1": 0.2, "spanN": 0.15, "random": 0.1, "edit": 0.15, "clean": 0.1}  # share of draws
TEMPERATURE = {"electra": 2.0, "span1": 2.0, "spanN": 1.0}  # >1: flatter than the model, so more fills do not fit


def sample_fill(model, canvas: torch.Tensor, where: torch.Tensor, gen: torch.Generator, banned: list[int],
                temperature: torch.Tensor) -> torch.Tensor:
    """``canvas: LongTensor[B, L]`` with MASK at ``where: BoolTensor[B, L]`` → each masked position drawn from the
    model's distribution there at its row's ``temperature: Tensor[B]`` (one forward, specials banned)."""
    with torch.no_grad():
        logits = model(canvas).float() / temperature[:, None, None]
    logits[..., banned] = -math.inf
    probs = torch.softmax(logits[where], -1)
    out = canvas.clone()
    out[where] = torch.multinomial(probs, 1, generator=gen).squeeze(-1)
    return out


def corrupt(refs: list[list[int]], draws: int, seed: int, batch: int = 256) -> list[tuple[list[int], list[int], str]]:
    """``(ids, labels, kind)`` per draw: ``draws`` corruptions of each reference (word ids, no START/END)."""
    loaded = ctrlgen.load("e2e-masked")
    masked, masked_vocab = loaded.model, loaded.tokenizer.vocab
    seq_len, mask_id = int(masked.config.seq_len), int(masked.mask_id)
    banned = [0, 1, 2, 3, mask_id]  # PAD START END UNK MASK: a fill is a word
    rng, gen = random.Random(seed), torch.Generator().manual_seed(seed)
    jobs = [(r, rng.choices(list(KINDS), weights=list(KINDS.values()))[0]) for r in refs for _ in range(draws)
            if 3 <= len(r) <= seq_len - 2]
    out: list[tuple[list[int], list[int], str]] = []
    need_model = sorted([(r, k) for r, k in jobs if k in ("electra", "span1", "spanN")],
                        key=lambda job: job[1] == "spanN")  # spanN rows share batches: 4 forwards only for them
    for r, k in jobs:
        if k == "clean":
            out.append((list(r), [0] * len(r), k))
        elif k == "random":  # 10-20% of the words replaced by words drawn uniformly from the vocabulary
            x = list(r)
            for i in rng.sample(range(len(r)), max(1, round(rng.uniform(0.1, 0.2) * len(r)))):
                x[i] = rng.randrange(5, len(masked_vocab))
            out.append((x, [int(a != o) for a, o in zip(x, r, strict=True)], k))
        elif k == "edit":
            x, lab = list(r), [0] * len(r)
            op, i = rng.choice(["drop", "dup", "swap"]), rng.randrange(len(r) - 1)
            if op == "drop":
                del x[i], lab[i]
                lab[min(i, len(x) - 1)] = 1
            elif op == "dup":
                x.insert(i + 1, x[i]), lab.insert(i + 1, 1)
            else:
                x[i], x[i + 1] = x[i + 1], x[i]
                lab[i] = lab[i + 1] = int(x[i] != x[i + 1])
            out.append((x, lab, k))
    for b in range(0, len(need_model), batch):
        part = need_model[b:b + batch]
        canvas = torch.zeros(len(part), seq_len, dtype=torch.long)
        where = torch.zeros(len(part), seq_len, dtype=torch.bool)
        spans: list[list[int]] = []
        for j, (r, k) in enumerate(part):
            canvas[j, 0], canvas[j, 1:len(r) + 1], canvas[j, len(r) + 1] = 1, torch.tensor(r), 2
            if k == "electra":
                pos = rng.sample(range(len(r)), max(1, round(rng.uniform(0.15, 0.30) * len(r))))
            else:
                n = rng.randint(1, min(4, len(r) - 1))
                s = rng.randrange(len(r) - n + 1)
                pos = list(range(s, s + n))
            spans.append([p + 1 for p in sorted(pos)])
            where[j, spans[-1]] = True
        x = canvas.masked_fill(where, mask_id)
        parallel = torch.tensor([k != "spanN" for _, k in part])
        temp = torch.tensor([TEMPERATURE[k] for _, k in part])
        x = torch.where(parallel[:, None], sample_fill(masked, x, where & parallel[:, None], gen, banned, temp), x)
        for step in range(4):  # spanN: one word per forward, left to right
            now = torch.zeros_like(where)
            for j, (_, k) in enumerate(part):
                if k == "spanN" and step < len(spans[j]):
                    now[j, spans[j][step]] = True
            if now.any():
                x = torch.where(now, sample_fill(masked, x, now, gen, banned, temp), x)
        for j, (r, k) in enumerate(part):
            ids = x[j, 1:len(r) + 1].tolist()
            out.append((ids, [int(a != o) for a, o in zip(ids, r, strict=True)], k))
    return out


def cached(path: Path, refs: list[list[int]], draws: int, seed: int) -> list[tuple[list[int], list[int], str]]:
    if path.is_file():
        return torch.load(path)
    t = time.process_time()
    data = corrupt(refs, draws, seed)
    print(f"drew {len(data)} corruptions in {time.process_time() - t:.0f} CPU s -> {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, path)
    return data


def batches(data, batch_size: int, rng: random.Random):
    """Shuffled batches of equal-length sequences (``[START] ids [END]``), forever."""
    while True:
        by_len: dict[int, list[int]] = {}
        for i, (ids, _, _) in enumerate(data):
            by_len.setdefault(len(ids), []).append(i)
        chunks = []
        for idx in by_len.values():
            rng.shuffle(idx)
            chunks += [idx[i:i + batch_size] for i in range(0, len(idx), batch_size)]
        rng.shuffle(chunks)
        for c in chunks:
            x = torch.tensor([[1, *data[i][0], 2] for i in c])
            y = torch.tensor([[0, *data[i][1], 0] for i in c], dtype=torch.float)
            yield x, y


def auc(scores: list[float], labels: list[int]) -> float:
    """Area under the ROC curve (ties counted half)."""
    pairs = sorted(zip(scores, labels, strict=True))
    pos = sum(labels)
    neg = len(labels) - pos
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        rank_sum += (i + j + 1) / 2 * sum(lab for _, lab in pairs[i:j])
        i = j
    return (rank_sum - pos * (pos + 1) / 2) / max(1, pos * neg)


def evaluate(model: ReplacedTokenDetector, data) -> dict:
    """Word accuracy (at 0.5) and AUC over the corrupted words, per kind and overall; max score of clean texts."""
    model.eval()
    words = [model.tokenizer.vocab.words_of(ids) for ids, _, _ in data]
    p = model.p_replaced_words(words)
    res = {}
    for kind in [*KINDS, "all"]:
        rows = [(q, lab) for (_, lab, k), q in zip(data, p, strict=True) if kind in (k, "all")]
        s = [a for q, lab in rows for a in q]
        y = [b for q, lab in rows for b in lab]
        res[kind] = {"words": len(y), "replaced": sum(y), "accuracy": sum((a > 0.5) == b for a, b in zip(s, y)) / len(y)}
        if 0 < sum(y) < len(y):
            res[kind]["auc"] = auc(s, y)
    clean = sorted(max(q) for (_, _, k), q in zip(data, p, strict=True) if k == "clean")
    res["clean_max_p"] = {"median": clean[len(clean) // 2], "p90": clean[int(0.9 * len(clean))]}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.environ.get("CTRLGEN_DATA", "data"), help="folder holding e2e/train.csv")
    ap.add_argument("--out", default="runs/e2e-rtd", help="where to write the detector")
    ap.add_argument("--cache", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "ctrlgen-rtd"),
                    help="folder for the drawn corruptions (not part of the repository)")
    ap.add_argument("--draws", type=int, default=5, help="corruptions per training reference")
    ap.add_argument("--steps", type=int, default=1600)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--valid-refs", type=int, default=1000, help="valid.csv references for the held-out numbers")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    t0 = time.process_time()
    train_csv, valid_csv = Path(args.data) / "e2e" / "train.csv", Path(args.data) / "e2e" / "valid.csv"
    tokenizer = ctrlgen.load("e2e-masked").tokenizer
    v = tokenizer.vocab
    fingerprint = file_fingerprint(train_csv)
    train_refs = [v.ids(split_words(e.ref)) for e in read_e2e_csv(train_csv, parse_mrs=False)]
    valid_refs = [v.ids(split_words(e.ref)) for e in read_e2e_csv(valid_csv, parse_mrs=False)][:args.valid_refs]
    cache = Path(args.cache)
    tag = f"{fingerprint.split(':')[-1][:12]}-v2-d{args.draws}-s{args.seed}"
    train = cached(cache / f"train-{tag}.pt", train_refs, args.draws, args.seed)
    valid = cached(cache / f"valid-{tag}.pt", valid_refs, 2, args.seed + 1)
    cfg = DetectorConfig(vocab_size=len(v))
    train = [d for d in train if len(d[0]) <= cfg.seq_len - 2]  # a doubled word can push a text past seq_len
    valid = [d for d in valid if len(d[0]) <= cfg.seq_len - 2]
    model = ReplacedTokenDetector(cfg)
    model.tokenizer = tokenizer
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / args.warmup) * (
        0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / args.steps)))))
    stream, t1, avg = batches(train, args.batch_size, random.Random(args.seed)), time.process_time(), 0.0
    model.train()
    for step in range(args.steps):
        x, y = next(stream)
        logits = model(x)[:, 1:-1]
        loss = F.binary_cross_entropy_with_logits(logits, y[:, 1:-1])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        avg = loss.item() if step == 0 else 0.98 * avg + 0.02 * loss.item()
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step} loss {avg:.4f} ({time.process_time() - t1:.0f} CPU s)", flush=True)
    train_s = time.process_time() - t1
    recipe = ("CTRLGEN_DATA=/path/to/data OMP_NUM_THREADS=1 python recipes/train_rtd.py --out "
              f"ctrlgen/assets/oracles/e2e-rtd --draws {args.draws} --steps {args.steps} --seed {args.seed}")
    extra = {"data": {"train_file": "train.csv", "fingerprint": fingerprint, "references": len(train_refs),
                      "corruptions": len(train), "kinds": KINDS, "generator": "e2e-masked"},
             "training": {"steps": args.steps, "batch_size": args.batch_size, "lr": args.lr, "warmup": args.warmup,
                          "seed": args.seed, "threads": 1, "cpu_seconds": round(train_s)},
             "recipe": recipe}
    fp32 = evaluate(model, valid)
    save_pretrained(args.out, model, tokenizer, extra=extra, dtype=torch.float16)
    loaded = load_detector(args.out)
    fp16 = evaluate(loaded, valid)
    words = [v.words_of(ids) for ids, _, _ in valid[:500]]
    dp = max(abs(a - b) for qa, qb in zip(model.p_replaced_words(words), loaded.p_replaced_words(words))
             for a, b in zip(qa, qb))
    result = {"valid_fp16": fp16, "valid_fp32_auc": fp32["all"].get("auc"), "max_abs_dp_fp16": dp,
              "train_cpu_s": round(train_s), "total_cpu_s": round(time.process_time() - t0), **extra}
    print(json.dumps(result, indent=1))
    (Path(args.cache) / f"result-{tag}-{args.steps}.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
