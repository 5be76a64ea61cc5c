"""Run one control task over a list of targets with several methods and score every row.

```python
import ctrlgen
from ctrlgen.evaluation.harness import evaluate
from ctrlgen.evaluation.target_files import read_task_targets

targets, lines = read_task_targets("pos.jsonl", "pos")
result = evaluate("pos", targets, gen=ctrlgen.load("e2e"), methods=["no-control", "reference"], n=5)
print(result.table())
```

Each :class:`Row` holds the task's metrics (:mod:`.tasks`, percent; ``ctrl_success`` is the
headline one), the lm-score (corpus perplexity under the teacher, :mod:`.teacher`), the teacher-free
fluency proxy (bigram precision against the training references, :mod:`.fluency`), distinct-1/2
over all texts, the diversity *within* each target's samples (:mod:`ctrlgen.oracles.diversity`:
distinct-1/2 per target, self-BLEU, different texts per target), samples/s of the method call, and
the numbers of targets and texts. Everything that can fail —
the task, method names, the targets' fit in the model's ``seq_len``, the oracles — is checked before
the first sample is drawn. Methods are in :mod:`.methods` (how to add one is documented there).
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ctrlgen.errors import ConfigError, DataError
from ctrlgen.evaluation.methods import Method, SampleContext, get_method
from ctrlgen.evaluation.target_files import check_fits
from ctrlgen.evaluation.targets import TARGET_KINDS
from ctrlgen.evaluation.tasks import TASKS, TITLES, Task
from ctrlgen.oracles.bundle import Oracles
from ctrlgen.oracles.diversity import diversity_stats
from ctrlgen.oracles.fluency import distinct_n

if TYPE_CHECKING:
    from ctrlgen.backends.embedding.generator import EmbeddingGenerator
    from ctrlgen.text.e2e import E2EExample

log = logging.getLogger(__name__)

DEFAULT_METHODS = ("no-control", "reference")


@dataclass
class Row:
    """One method's scores on one task (metrics in percent; ``None``: not measured)."""

    method: str
    ctrl_success: float | None  # the task's headline metric (Task.headline); None: nothing could be scored
    metrics: dict[str, float | None]
    lm_score: float | None  # corpus perplexity exp(Σ NLL / Σ tokens) under the teacher
    lm_score_dlm: float | None  # Diffusion-LM's: exp(mean over targets of mean per-text token NLL)
    bigram_precision: float | None  # teacher-free fluency proxy, percent
    distinct_1: float  # over all texts of the row
    distinct_2: float
    distinct_1_target: float  # within each target's samples, mean over targets (ctrlgen.oracles.diversity)
    distinct_2_target: float
    self_bleu: float | None  # BLEU-4 of each sample against the others of its target, mean; None: 1 per target
    distinct_samples: float  # different texts among a target's samples, mean over targets
    samples_per_s: float | None  # texts / seconds of the method call (None: no sampling)
    seconds: float  # wall seconds of the method call
    cpu_seconds: float  # CPU seconds of this process during the call (all threads): the cost without contention
    n_targets: int
    n_samples: int
    examples: list[str] = field(default_factory=list)


@dataclass
class EvalResult:
    """All rows of one task, with the settings and oracles used (``to_dict`` is the JSON)."""

    task: str
    rows: list[Row]
    settings: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "headline": TASKS.get(self.task).headline, "scale": "percent",
                **self.settings, "rows": [asdict(r) for r in self.rows]}

    def table(self) -> str:
        """The rows as a fixed-width table like the paper's (ctrl success ↑, lm-score ↓, …)."""
        return format_table(self.task, self.rows)


def _fmt(v: float | None, spec: str = ".1f") -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def format_table(task: str, rows: Sequence[Row]) -> str:
    spec = TASKS.get(task)
    head = ["method", *(TITLES.get(c, c) + (" ↑" if k == 0 else "") for k, c in enumerate(spec.columns)),
            "lm-score ↓", "bigram-prec", "dist-2", "dist-2/target", "self-BLEU ↓", "distinct/target",
            "samples/s", "targets", "texts"]
    body = [[r.method, *(_fmt(r.metrics.get(c)) for c in spec.columns), _fmt(r.lm_score, ".2f"),
             _fmt(r.bigram_precision), _fmt(100 * r.distinct_2), _fmt(100 * r.distinct_2_target),
             _fmt(None if r.self_bleu is None else 100 * r.self_bleu), _fmt(r.distinct_samples, ".2f"),
             _fmt(r.samples_per_s, ".2f"), str(r.n_targets), str(r.n_samples)] for r in rows]
    widths = [max(len(x[k]) for x in [head, *body]) for k in range(len(head))]
    lines = ["  ".join(x[k].ljust(widths[k]) if k == 0 else x[k].rjust(widths[k]) for k in range(len(head)))
             for x in [head, *body]]
    return "\n".join([f"task: {task}", lines[0], "-" * len(lines[0]), *lines[1:]])


def fluency_stats(texts: Sequence[Sequence[str]], oracles: Oracles) -> dict[str, float | None]:
    """lm-score (both averages), bigram precision (percent) and distinct-1/2 of all texts."""
    flat = [t for ts in texts for t in ts]
    out: dict[str, float | None] = {"lm_score": None, "lm_score_dlm": None, "bigram_precision": None,
                                    "distinct_1": distinct_n(flat, 1), "distinct_2": distinct_n(flat, 2)}
    if oracles.teacher is not None:
        scores = oracles.teacher.nlls(flat)
        per_text = (scores.nll / scores.tokens.clamp(min=1)).tolist()
        per_target, k = [], 0
        for ts in texts:
            per_target.append(statistics.fmean(per_text[k:k + len(ts)]))
            k += len(ts)
        out["lm_score"], out["lm_score_dlm"] = scores.perplexity, math.exp(statistics.fmean(per_target))
    if oracles.bigrams is not None:
        out["bigram_precision"] = 100 * oracles.bigrams.precision(flat)
    return out


def prepare_methods(task: str, methods: Sequence[str | Method]) -> tuple[Task, list[Method]]:
    """Look up the task and the methods (unknown names raise with the list of known ones)."""
    spec = TASKS.get(task)
    if not methods:
        raise ConfigError("no methods given", hint=f"e.g. {','.join(DEFAULT_METHODS)}")
    out = [get_method(m) if isinstance(m, str) else m for m in methods]
    for m in out:
        if not m.supports(task):
            raise ConfigError(f"method {m.name!r} cannot run the {task} task",
                              hint=f"it runs: {', '.join(sorted(m.tasks or ()))}")
    return spec, out


def evaluate(task: str, targets: Sequence[Any], *, gen: EmbeddingGenerator | None = None,
             methods: Sequence[str | Method] = DEFAULT_METHODS, n: int = 4, steps: int = 200, seed: int = 0,
             batch_size: int = 64, oracles: Oracles | None = None, references: Sequence[E2EExample] = (),
             lines: Sequence[int] | None = None, source: str = "targets", progress: bool = False) -> EvalResult:
    """Score every method on ``targets`` of ``task`` (see the module doc). ``lines``: the targets' line
    numbers in ``source`` for error messages; ``references``: rows for the reference method."""
    spec, ms = prepare_methods(task, methods)
    if not targets:
        raise DataError(f"no {task} targets to evaluate", hint="build some with ctrlgen build-targets")
    kind_cls = TARGET_KINDS[spec.kind]
    bad = next((k for k, t in enumerate(targets) if not isinstance(t, kind_cls)), None)
    if bad is not None:
        raise DataError(f"{source} target {bad} is a {type(targets[bad]).__name__}, not a {kind_cls.__name__}",
                        hint=f"the {task} task reads {spec.kind} targets")
    if not isinstance(n, int) or n < 1:
        raise ConfigError(f"n must be an integer >= 1, got {n!r}", hint="samples per target, e.g. 5")
    if gen is None and any(m.needs_model for m in ms):
        raise ConfigError("a model is needed for " + ", ".join(m.name for m in ms if m.needs_model),
                          hint="pass gen=ctrlgen.load('e2e')")
    if gen is not None:
        check_fits(targets, task, gen.model.config.seq_len, where=source, lines=lines)
    oracles = oracles or Oracles()
    oracles.require(spec.needs)  # every oracle loads (or fails with an install hint) before sampling
    ctx = SampleContext(task, gen, n=n, steps=steps, seed=seed, batch_size=batch_size, progress=progress,
                        references=references)
    for m in ms:
        m.check(targets, ctx)
    rows = []
    for m in ms:
        t0, c0 = time.perf_counter(), time.process_time()
        texts = m.sample(targets, ctx)
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        if len(texts) != len(targets) or any(not ts for ts in texts):
            raise DataError(f"method {m.name!r} returned {len(texts)} text lists for {len(targets)} targets "
                            "(or an empty list)", hint="a method returns one non-empty list of texts per target")
        metrics = spec.score(targets, texts, oracles)
        n_texts = sum(len(ts) for ts in texts)
        rows.append(Row(method=m.name, ctrl_success=metrics[spec.headline], metrics=metrics,
                        **fluency_stats(texts, oracles), **diversity_stats(texts),  # type: ignore[arg-type]
                        samples_per_s=n_texts / secs if m.needs_model and secs > 0 else None, seconds=secs,
                        cpu_seconds=cpu,
                        n_targets=len(targets), n_samples=n_texts, examples=[ts[0] for ts in texts[:5]]))
        log.info("%s / %s: %s = %s", task, m.name, spec.headline, _fmt(metrics[spec.headline]))
    settings = {"source": source, "n": n, "steps": steps, "seed": seed, "batch_size": batch_size,
                "model": gen.path.name if gen is not None and gen.path is not None else None,  # no machine paths
                "oracles": dict(oracles.names)}
    return EvalResult(task, rows, settings)
