"""Shared helpers of the benchmark and control recipes in `recipes/` (machine description, data folder, sample
statistics, JSON output): a real module, so recipes import it instead of patching sys.path."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from ctrlgen.backends.embedding.guidance import GuidanceConfig
from ctrlgen.backends.embedding.sampler import EmbeddingSampler
from ctrlgen.constraints.fingerprint import ModelContext
from ctrlgen.evaluation.guided import Guided, constraints_for
from ctrlgen.evaluation.target_builders import semantic_targets
from ctrlgen.evaluation.target_files import build_task_targets, fitting_examples
from ctrlgen.oracles.fluency import (
    BigramReference,
    distinct_n,
    length_histogram,
    well_formed,
)
from ctrlgen.text.e2e import read_e2e_csv
from ctrlgen.text.tokenizer import split_words


def data_dir(arg: str | None) -> Path:
    """``--data`` or ``$CTRLGEN_DATA``: the folder holding ``e2e/train.csv``."""
    d = arg or os.environ.get("CTRLGEN_DATA")
    if not d:
        raise SystemExit("pass --data DIR or set CTRLGEN_DATA to the folder holding e2e/train.csv")
    return Path(d)


def corpus_texts(data: str | None, texts_file: str | None = None) -> tuple[list[str], str]:
    """The texts a table recipe builds from and their provenance ``"<file name> sha256:<digest>"``: ``texts_file``
    (one text per line, blank lines skipped) when given, else the references of ``<data>/e2e/train.csv``."""
    if texts_file:
        path = Path(texts_file)
        texts = [t for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]
    else:
        path = data_dir(data) / "e2e" / "train.csv"
        texts = [e.ref for e in read_e2e_csv(path)]
    return texts, f"{path.name} sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}"


def machine() -> dict[str, Any]:
    return {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()}


def sample_quality(gen: Any, train_texts: list[str], n: int = 200, steps: int = 200, seed: int = 0,
                   ref: BigramReference | None = None, keep_texts: bool = False, **sampler_kw: Any) -> dict[str, Any]:
    """Draw ``n`` samples and measure fluency proxy, well-formedness, distinct-n, copy rate, lengths
    (``keep_texts``: also return every sample under ``"all_texts"``)."""
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


VERBATIM = "[equal to an E2E reference word for word: omitted, the data stays outside the repository]"


def scrub(obj: Any, references: set[str]) -> Any:
    """``obj`` with every string that is one of ``references`` replaced by :data:`VERBATIM`: results go into the
    repository, the data does not (an edit task's sources, or a sample that copies a training sentence)."""
    if isinstance(obj, dict):
        return {k: scrub(v, references) for k, v in obj.items()}
    if isinstance(obj, list):
        return [scrub(v, references) for v in obj]
    return VERBATIM if isinstance(obj, str) and obj in references else obj


def reference_leak(obj: Any, references: list[Any], k: int = 4) -> str | None:
    """A run of ``k`` consecutive words of one of ``references`` (word sequences) found in ``obj``'s JSON, else
    ``None``: a guard before results that must hold numbers and ids only go into the repository."""
    text = " ".join(json.dumps(obj, ensure_ascii=False).split())
    for words in references:
        for i in range(len(words) - k + 1):
            if " ".join(words[i:i + k]) in text:
                return " ".join(words[i:i + k])
    return None


def write_json(path: str | os.PathLike, obj: Any, *, references: set[str] | None = None) -> None:
    """Write ``obj`` as JSON (``references``: texts to :func:`scrub` out first)."""
    if references:
        obj = scrub(obj, references)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(obj, indent=2, ensure_ascii=False))
    print(f"wrote {p}")


# ----------------------------------------------------------------- guided control (control_guided / control_table)
def float_list(value: str) -> list[float]:
    """``"0.001,0.05"`` → ``[0.001, 0.05]`` (an argparse ``type``)."""
    return [float(x) for x in value.split(",") if x]


def build_targets(task: str, valid: Path, count: int, seed: int, seq_len: int, oracles: Any) -> list:
    """``count`` targets of ``task`` from ``valid`` (references that fit ``seq_len``). Semantic targets: a
    seeded sample of the distinct ``field = value`` pairs (the harness's builder takes them in field
    order, which would be mostly names); other tasks: :func:`build_task_targets` with ``seed``."""
    if task == "semantic":
        pairs = semantic_targets(fitting_examples(valid, seq_len - 2))
        return sorted(random.Random(seed).sample(pairs, min(count, len(pairs))), key=pairs.index)
    return build_task_targets(task, valid, count=count, seed=seed, max_words=seq_len - 2, oracles=oracles)


def lambda_methods(lambdas: list[float], step: float = 0.1) -> list:
    """Extra ``guided`` rows, one per fluency weight λ (step size ``step``), named ``guided λ=…``."""

    return [Guided(GuidanceConfig.full(fluency_weight=lam, step_size=step),
                   name=f"guided λ={lam:g}" + (f" lr={step:g}" if step != 0.1 else "")) for lam in lambdas]


def row_summary(row: Any) -> dict:
    """A harness ``Row`` as a dict, plus ``seconds_per_50`` (50 / samples per second)."""
    d = dict(row.__dict__)
    d["seconds_per_50"] = round(50 / row.samples_per_s, 1) if row.samples_per_s else None
    return d


def time_fifty(gen: Any, target: Any, task: str, steps: int, seed: int) -> dict:
    """Wall and CPU seconds for 50 samples drawn in one batch, unguided and guided (the task's default)."""

    out = {"n": 50, "steps": steps, "target": repr(target)[:120], "torch_threads": torch.get_num_threads()}
    for name, kw in (("no-control", {}), ("guided", {"constraints": constraints_for(target),
                                                      "guidance": Guided().config(task)})):
        w0, c0 = time.perf_counter(), time.process_time()
        gen.generate(n=50, steps=steps, seed=seed, batch_size=50, **kw)
        out[name] = {"wall_s": round(time.perf_counter() - w0, 1), "cpu_s": round(time.process_time() - c0, 1)}
    return out


def classifier_info(gen: Any) -> dict:
    """The classifiers ``gen``'s constraints would load (the user location first, then beside the checkpoint;
    :attr:`ModelContext.classifier_dirs`): kind → class, scalar hyperparameters, training steps, where found."""
    out: dict[str, Any] = {}
    context = ModelContext.of(gen.model, getattr(gen, "diffusion", None), gen.path, gen.tokenizer)
    for where, root in context.classifier_dirs:
        for sub in sorted(root.glob("*/config.json")):
            if sub.parent.name in out:
                continue  # the first one found is the one the lookup uses
            cfg = json.loads(sub.read_text())
            out[sub.parent.name] = {"classifier": cfg["classifier"], "where": where, "steps": cfg.get(
                "training", {}).get("steps"), "hparams": {k: v for k, v in cfg["hparams"].items()
                                                          if not isinstance(v, list | dict)}}
    return out
