"""Shared helpers for the recipe scripts (not part of the library API)."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from ctrlgen.evaluation import BigramReference, distinct_n, length_histogram, well_formed
from ctrlgen.text import split_words


def data_dir(arg: str | None) -> Path:
    """``--data`` or ``$CTRLGEN_DATA``: the folder holding ``e2e/train.csv``."""
    d = arg or os.environ.get("CTRLGEN_DATA")
    if not d:
        raise SystemExit("pass --data DIR or set CTRLGEN_DATA to the folder holding e2e/train.csv")
    return Path(d)


def machine() -> dict[str, Any]:
    return {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()}


def sample_quality(gen: Any, train_texts: list[str], n: int = 200, steps: int = 200, seed: int = 0,
                   ref: BigramReference | None = None, keep_texts: bool = False, **sampler_kw: Any) -> dict[str, Any]:
    """Draw ``n`` samples and measure fluency proxy, well-formedness, distinct-n, copy rate, lengths
    (``keep_texts``: also return every sample under ``"all_texts"``)."""
    from ctrlgen.samplers import EmbeddingSampler

    ref = ref or BigramReference(train_texts)
    t0 = time.perf_counter()
    out = gen.generate(n=n, seed=seed, sampler=EmbeddingSampler(steps=steps, **sampler_kw))
    secs = time.perf_counter() - t0
    lens = [len(split_words(t)) for t in out.texts]
    return {
        **({"all_texts": out.texts} if keep_texts else {}),
        "n": n, "steps": steps, "seed": seed, "sampler": sampler_kw,
        "bigram_precision": ref.precision(out.texts),
        "well_formed": float(well_formed(out.tokens, gen.tokenizer.vocab).float().mean()),
        "distinct_1": distinct_n(out.texts, 1), "distinct_2": distinct_n(out.texts, 2),
        "copy_rate": ref.copy_rate(out.texts),
        "length_mean": statistics.mean(lens), "length_std": statistics.pstdev(lens),
        "length_hist": length_histogram(out.texts),
        "samples_per_s": n / secs, "seconds": secs, "examples": out.texts[:10],
    }


def write_json(path: str | os.PathLike, obj: Any) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(obj, indent=2, ensure_ascii=False))
    print(f"wrote {p}")
