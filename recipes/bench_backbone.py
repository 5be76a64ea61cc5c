"""Time the two backbone implementations (SDPA blocks vs transformers' BertEncoder) on CPU,
forward + backward at the default model size, interleaved in one run so load affects both alike.

    python recipes/bench_backbone.py --out recipes/results/bench_backbone.json
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ctrlgen.backends.embedding.model import EmbeddingLM, EmbeddingLMConfig  # noqa: E402
from ctrlgen.evaluation.bench import machine, write_json  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seq-len", type=int, default=48)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="recipes/results/bench_backbone.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    models = {}
    for att in ("sdpa", "bert"):
        torch.manual_seed(0)
        models[att] = EmbeddingLM(EmbeddingLMConfig(vocab_size=560, seq_len=args.seq_len, attention=att)).train()
    x = torch.randn(args.batch, args.seq_len, 16)
    t = torch.randint(0, 2000, (args.batch,))
    times: dict[str, dict[str, list[float]]] = {a: {"train_step": [], "forward_no_grad": []} for a in models}
    for r in range(args.rounds + 2):  # 2 warm-up rounds
        for att, m in models.items():
            t0 = time.perf_counter()
            m(x, t).square().mean().backward()
            t1 = time.perf_counter()
            with torch.no_grad():
                m.eval()
                m(x, t)
                m.train()
            t2 = time.perf_counter()
            if r >= 2:
                times[att]["train_step"].append(t1 - t0)
                times[att]["forward_no_grad"].append(t2 - t1)
    res = {att: {k: {"median_ms": 1000 * statistics.median(v), "min_ms": 1000 * min(v)} for k, v in d.items()}
           | {"params": sum(p.numel() for p in models[att].parameters())} for att, d in times.items()}
    print({a: (round(r["train_step"]["median_ms"], 1), round(r["forward_no_grad"]["median_ms"], 1)) for a, r in res.items()})
    write_json(args.out, {"machine": machine(), "batch": args.batch, "seq_len": args.seq_len, "results": res})


if __name__ == "__main__":
    main()
