"""Unguided diffusion samples/s beside the AR draft model's at known fluency (issue 17's last target): the
``vs-ar`` rows of ``recipes/bench_speed.py`` (``--backends …,vs-ar``), one process, one thread.

For each batch size b (``--vs-ar-batches``), ``--vs-ar-n`` samples are drawn in batches of b from the AR draft
model (``e2e-ar-draft``, KV cache) and then from each diffusion configuration (``--vs-ar-configs``, each
``MODEL@STEPS``, ``MODEL@STEPS:THRESHOLD`` or ``MODEL@STEPS:THRESHOLD:cache`` — the threshold is the masked
sampler's confidence-threshold parallel decoding, ``SamplerConfig.threshold``, where ``STEPS`` is a ceiling;
``cache`` its block cache, ``SamplerConfig.cache``). Every row: CPU seconds of the process (one
thread; robust to other jobs on a shared machine), samples/s, its ratio to the AR row of the same batch size, bigram
precision and teacher lm-score over all its samples (the same texts the time was spent on), and for masked rows the
forwards per batch and the row-forwards per sample actually run. The target reads "samples/s ≥ 0.5× AR at equal
bigram precision": ``at_ar_bigram`` says whether a row's bigram precision is at least the AR row's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

import ctrlgen
from ctrlgen.backends.masked.sampler import SamplerConfig
from ctrlgen.models.ar_lm import ARLM
from ctrlgen.models.assets import resolve_model_path
from ctrlgen.models.pretrained import load_pretrained

DEFAULT_CONFIGS = ("e2e@50,e2e@25,e2e-sedd@64,e2e-masked@48,e2e-masked@32,e2e-masked@48:0.7,e2e-masked@32:0.7,"
                   "e2e-masked@48:0.7:cache,e2e-masked@32:0.7:cache,e2e-masked@24:0.7:cache")


def parse_config(spec: str) -> tuple[str, int, float | None, bool]:
    """``"e2e-masked@48:0.7:cache"`` → ``("e2e-masked", 48, 0.7, True)``; ``"e2e@50"`` → ``("e2e", 50, None,
    False)``; ``"e2e-masked@48::cache"``: the block cache without a threshold."""
    name, _, rest = spec.partition("@")
    steps, _, rest = rest.partition(":")
    threshold, _, cache = rest.partition(":")
    if not name or not steps.isdigit() or cache not in ("", "cache"):
        raise SystemExit(f"--vs-ar-configs: {spec!r} is not MODEL@STEPS[:THRESHOLD[:cache]]")
    return name, int(steps), float(threshold) if threshold else None, cache == "cache"


def _draws(n: int, b: int, draw: Callable[[int, int], tuple[list[str], dict[str, Any]]]) -> tuple[float, list[str], list[dict[str, Any]]]:
    """CPU seconds and texts of ``n`` samples drawn ``b`` at a time by ``draw(size, seed)``, and each batch's report."""
    texts, reports = [], []
    t0 = time.process_time()
    for start in range(0, n, b):
        out, report = draw(min(b, n - start), start)
        texts += out
        reports.append(report)
    return time.process_time() - t0, texts, reports


def bench_vs_ar(quality: Callable[[list[str]], dict[str, float]], batches: Sequence[int], n: int,
                configs: str = DEFAULT_CONFIGS) -> list[dict[str, Any]]:
    """The ``vs-ar`` rows (module doc)."""
    ar, tok, _ = load_pretrained(resolve_model_path("e2e-ar-draft"), ARLM)
    ar.eval()
    specs = [parse_config(s) for s in configs.split(",") if s]
    gens = {name: ctrlgen.load(name) for name in dict.fromkeys(name for name, *_ in specs)}
    for gen in gens.values():
        gen.generate(n=1, steps=4, seed=0)  # warm-up (lazy loads)
    rows = []
    for b in batches:
        g = torch.Generator().manual_seed(0)
        t, texts, _ = _draws(n, b, lambda size, seed, g=g: (tok.decode_batch(ar.sample(size, g)), {}))
        base = {"backend": "e2e-ar-draft", "kind": "vs-ar", "batch": b, "n": n, "steps": None, "threshold": None,
                "cpu_s": round(t, 3), "samples_per_s": round(n / t, 2), "ratio_to_ar": 1.0, **quality(texts)}
        rows.append(base)
        for name, steps, threshold, cache in specs:
            gen = gens[name]
            kw = {"sampler": SamplerConfig(threshold=threshold, cache=cache)} if gen.backend == "masked" else {}
            if (threshold is not None or cache) and gen.backend != "masked":
                raise SystemExit(f"--vs-ar-configs: a threshold or cache needs a masked model, not {name} ({gen.backend})")

            def draw(size: int, seed: int, gen: Any = gen, steps: int = steps,
                     kw: dict[str, Any] = kw) -> tuple[list[str], dict[str, Any]]:
                out = gen.generate(n=size, steps=steps, seed=seed, batch_size=size, **kw)
                return out.texts, out.report

            t, texts, reports = _draws(n, b, draw)
            row = {"backend": name, "kind": "vs-ar", "batch": b, "n": n, "steps": steps, "threshold": threshold,
                   "cache": cache, "cpu_s": round(t, 3), "samples_per_s": round(n / t, 2),
                   "ratio_to_ar": round(n / t / base["samples_per_s"], 3), **quality(texts)}
            row["at_ar_bigram"] = row["bigram"] >= base["bigram"]
            if gen.backend == "masked":
                row["forwards_per_batch"] = round(sum(r["forwards"] for r in reports) / len(reports), 1)
                row["row_forwards_per_sample"] = round(sum(r["row_forwards"] for r in reports) / n, 1)
            rows.append(row)
            print(row, flush=True)
    return rows
