"""Speed at known quality, every backend side by side (issue 17): one process, one thread.

    CTRLGEN_DATA=/path/to/data python recipes/bench_speed.py --out recipes/results/bench_speed.json

Per backend (``e2e`` embedding, ``e2e-sedd`` discrete, ``e2e-edit`` edit) and the AR draft model
(``e2e-ar-draft``, KV cache):

Times are CPU seconds of the process at one thread (``time.process_time``: the cost of a call, which other jobs on a
shared machine do not inflate), wall seconds for the ``--all-threads`` column.

* **floor** — the bare network forward on a representative batch × the passes a call makes (embedding and
  discrete: ``steps`` denoiser forwards; edit: tagger + fill forwards × revision steps), beside the real
  unguided sampling time: ``sample ÷ floor`` is the sampler's overhead;
* **batch** / **steps** — samples/s at batch 1, 8, 64 (``--batches``) and at several step counts;
* **guided** — unguided and guided calls *interleaved* (``--repeats``, median; the machine is shared, so read the
  ratios): ``SemanticField(..., steer="classifier")`` on embedding (the default guidance and ``GuidanceConfig.full()``)
  and discrete (the default on-move guidance and ``guidance_mode="every-step"``), a
  one-field ``edit`` on the edit backend; ``guided ÷ unguided`` and the control success
  (``report["satisfied"]`` rate).

Every row carries the fluency of its texts — bigram precision against the training references
(``ctrlgen.oracles.fluency``) and the teacher lm-score (``ctrlgen.oracles.teacher``, ``e2e-teacher-1``) — so speed
is compared at known quality (small ``n``: the quality columns are rough), and ``maxrss_mb``, the process's
peak resident memory after the row (``resource.getrusage``; cumulative, rows run in increasing batch size).
``--all-threads`` adds a samples/s column with every thread for the batch rows. Results (JSON) go to ``--out``
and a table is printed. The default run is small (about 10 minutes on one thread); ``--batches 1,8,64,256,512``
and ``--repeats 5`` for the full curve.
"""

from __future__ import annotations

import argparse
import resource
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

import ctrlgen
from ctrlgen.backends.edit.models import encode_batch
from ctrlgen.evaluation.bench import data_dir, machine, write_json
from ctrlgen.models.ar_lm import ARLM
from ctrlgen.models.assets import resolve_model_path
from ctrlgen.models.pretrained import load_pretrained
from ctrlgen.oracles.fluency import BigramReference
from ctrlgen.oracles.teacher import Teacher
from ctrlgen.text.e2e import read_e2e_csv
from ctrlgen.text.vocab import SPECIALS
from speed_vs_ar import DEFAULT_CONFIGS, bench_vs_ar  # recipes/ is on sys.path when run as a script

TARGET = ("food", "Japanese")
EDIT_TEXT, EDIT_FIELD = "The Vaults is a cheap pub near Café Adriatic .", "priceRange=more than £30"


class Quality:
    """Bigram precision and teacher lm-score of a row's texts."""

    def __init__(self, data: str | None, teacher: str) -> None:
        train = [e.ref for e in read_e2e_csv(data_dir(data) / "e2e" / "train.csv", parse_mrs=False)]
        self.ref, self.teacher = BigramReference(train), Teacher.load(teacher)

    def __call__(self, texts: list[str]) -> dict[str, float]:
        return {"bigram": round(self.ref.precision(texts), 3), "lm_score": round(self.teacher.score(texts), 2)}


def _maxrss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds of ``fn()`` and its output: CPU seconds of this process while torch runs one thread (the cost of the
    call, robust to other jobs on a shared machine), wall seconds otherwise (CPU time would sum the threads)."""
    clock = time.process_time if torch.get_num_threads() == 1 else time.perf_counter
    t0 = clock()
    out = fn()
    return clock() - t0, out


def _success(out: Any) -> float | None:
    sat = out.report.get("satisfied")
    return None if sat is None else round(sum(bool(s) for s in sat) / len(sat), 3)


def interleaved(calls: dict[str, Callable[[], Any]], repeats: int) -> dict[str, tuple[float, Any]]:
    """Median seconds and the last output of each call, the calls run in turn ``repeats`` times."""
    times: dict[str, list[float]] = {k: [] for k in calls}
    outs: dict[str, Any] = {}
    for _ in range(repeats):
        for k, fn in calls.items():
            s, outs[k] = _timed(fn)
            times[k].append(s)
    return {k: (statistics.median(v), outs[k]) for k, v in times.items()}


# ------------------------------------------------------------------------------------------- floors
def _repeat(k: int, fn: Callable[[], Any]) -> None:
    """``fn()`` ``k`` times, keeping no output alive (a sampler holds one step's output at a time)."""
    for _ in range(k):
        fn()


def floor_fn(backend: str, gen: Any, batch: int, steps: int) -> Callable[[], None]:
    """``steps`` bare forwards of ``gen``'s network(s) on a representative batch of ``batch``."""
    g = torch.Generator().manual_seed(0)
    if backend == "embedding":
        c = gen.model.config
        x, t = torch.randn(batch, c.seq_len, c.embed_dim, generator=g), torch.full((batch,), 100)
        return torch.no_grad()(lambda: _repeat(steps, lambda: gen.model(x, t)))
    if backend == "discrete":
        c, mask = gen.model.config, gen.tokenizer.vocab.mask_id
        x = torch.randint(0, c.vocab_size, (batch, c.seq_len), generator=g)
        x = torch.where(torch.rand(batch, c.seq_len, generator=g) < 0.5, torch.full_like(x, mask), x)
        sigma = gen.diffusion.noise(torch.full((batch,), 0.5))[0]
        return torch.no_grad()(lambda: _repeat(steps + 1, lambda: gen.model(x, sigma)))
    tagger, generator = gen.model.tagger, gen.model.generator  # edit: tagger + fill pass per revision
    words = torch.randint(len(SPECIALS), len(gen.tokenizer), (batch, 15), generator=g).tolist()
    x, xg = encode_batch(words, tagger.config.seq_len), encode_batch(words, generator.config.seq_len)
    return torch.no_grad()(lambda: _repeat(steps, lambda: (tagger(x, 1.0), generator.fill_logits(xg, 1.0))))


def uncached_fluency(gen: Any, call: Callable[[], Any]) -> Any:
    """``call()`` with the edit backend's fluency term recomputed for every candidate (as before its cache)."""
    ar = gen.draft()

    def fluency() -> Callable[[list[list[int]]], list[float]]:
        def score(rows: list[list[int]]) -> list[float]:
            with torch.no_grad():
                ids = encode_batch(rows, ar.config.seq_len)
                return (-ar.nll(ids) / ar.token_counts(ids).clamp(min=1)).tolist()
        return score

    gen.fluency = fluency
    try:
        return call()
    finally:
        del gen.fluency


def unguided_fn(backend: str, gen: Any, n: int, steps: int) -> Callable[[], Any]:
    return lambda: gen.generate(n=n, steps=steps, seed=0, batch_size=n)


def guided_fns(backend: str, gen: Any, n: int, steps: int) -> dict[str, Callable[[], Any]]:
    """The guided calls of a backend (name → call), to interleave with the unguided one."""
    if backend == "edit":
        one = lambda: gen.edit(EDIT_TEXT, n=n, steps=steps, seed=0, constraints=[EDIT_FIELD])
        return {"edit-1field": one, "edit-1field-nocache": lambda: uncached_fluency(gen, one),
                "edit-none": lambda: gen.edit(EDIT_TEXT, n=n, steps=steps, seed=0)}
    c = ctrlgen.SemanticField(*TARGET, steer="classifier")
    run = lambda **kw: gen.generate(n=n, steps=steps, seed=0, batch_size=n, constraints=c, **kw)
    if backend == "embedding":  # the default (one sign step of 0.3 over 75%) and Diffusion-LM's K = 3 setting
        return {"semantic": run, "semantic-full": lambda: run(guidance=ctrlgen.GuidanceConfig.full())}
    # the default (on-move guidance) and the every-step exact shortlist it replaced
    return {"semantic": run, "semantic-every-step": lambda: run(guidance_mode="every-step")}


# ------------------------------------------------------------------------------------------- rows
def bench_backend(name: str, backend: str, args: argparse.Namespace, quality: Quality) -> list[dict[str, Any]]:
    gen = ctrlgen.load(name)
    steps, rows = args.steps[backend], []
    gen.generate(n=1, steps=2, seed=0)  # warm-up (lazy loads)
    for b in args.batches:
        if backend == "edit" and b > args.edit_max_batch:
            continue
        floor = floor_fn(backend, gen, b, steps)
        res = interleaved({"floor": floor, "sample": unguided_fn(backend, gen, b, steps)}, args.batch_repeats)
        (f_s, _), (s_s, out) = res["floor"], res["sample"]
        row = {"backend": name, "kind": "batch", "batch": b, "steps": steps, "floor_s": round(f_s, 3),
               "sample_s": round(s_s, 3), "sample_over_floor": round(s_s / f_s, 2), "samples_per_s": round(b / s_s, 3),
               **quality(out.texts), "maxrss_mb": _maxrss_mb()}
        if args.all_threads:
            torch.set_num_threads(args.all_threads)
            row["samples_per_s_all_threads"] = round(b / _timed(unguided_fn(backend, gen, b, steps))[0], 3)
            torch.set_num_threads(1)
        rows.append(row)
    m = args.sweep_n or args.batch
    for s in args.step_sweep[backend]:
        t, out = _timed(lambda s=s: gen.generate(n=m, steps=s, seed=0, batch_size=min(m, 64)))
        rows.append({"backend": name, "kind": "steps", "batch": min(m, 64), "n": m, "steps": s, "sample_s": round(t, 3),
                     "samples_per_s": round(m / t, 3), **quality(out.texts), "maxrss_mb": _maxrss_mb()})
    if args.sweep_only:
        return rows
    n = 1 if backend == "edit" else args.batch
    calls = guided_fns(backend, gen, n, steps)
    if backend != "edit":
        calls = {"unguided": unguided_fn(backend, gen, n, steps), **calls}
    next(iter(calls.values()))()  # warm-up: classifiers load outside the timing
    list(calls.values())[-1]()
    res = interleaved(calls, args.repeats)
    base = res["edit-none" if backend == "edit" else "unguided"][0]
    for k, (t, out) in res.items():
        rows.append({"backend": name, "kind": "guided", "call": k, "batch": n, "steps": steps, "sample_s": round(t, 3),
                     "over_unguided": round(t / base, 2), "samples_per_s": round(n / t, 3), "success": _success(out),
                     **quality(out.texts), "maxrss_mb": _maxrss_mb()})
    return rows


def bench_ar(args: argparse.Namespace, quality: Quality) -> list[dict[str, Any]]:
    model, tok, _ = load_pretrained(resolve_model_path("e2e-ar-draft"), ARLM)
    model.eval()
    rows = []
    for b in args.batches:
        t, ids = _timed(lambda b=b: model.sample(b, torch.Generator().manual_seed(0)))
        rows.append({"backend": "e2e-ar-draft", "kind": "batch", "batch": b, "steps": None, "sample_s": round(t, 3),
                     "samples_per_s": round(b / t, 3), **quality(tok.decode_batch(ids)), "maxrss_mb": _maxrss_mb()})
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    cols = [("backend", 13), ("kind", 6), ("call", 19), ("batch", 5), ("steps", 5), ("threshold", 5), ("floor_s", 7),
            ("sample_s", 8), ("sample_over_floor", 7), ("over_unguided", 7), ("samples_per_s", 8), ("ratio_to_ar", 6),
            ("success", 7), ("bigram", 6),
            ("lm_score", 7), ("maxrss_mb", 7)]
    head = " ".join(f"{c[:w]:>{w}}" for c, w in cols)
    lines = [head]
    for r in rows:
        lines.append(" ".join(f"{'' if r.get(c) is None else str(r.get(c))[:w]:>{w}}" for c, w in cols))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data")
    ap.add_argument("--teacher", default="e2e-teacher-1")
    ap.add_argument("--batches", default="1,8,64", help="batch sizes of the batch rows (the full curve: 1,8,64,256,512)")
    ap.add_argument("--batch", type=int, default=8, help="batch of the steps and guided rows")
    ap.add_argument("--edit-max-batch", type=int, default=8, help="the edit backend's largest batch row")
    ap.add_argument("--repeats", type=int, default=2, help="interleaved repeats of the guided rows (median)")
    ap.add_argument("--batch-repeats", type=int, default=1, help="interleaved repeats of floor and sample per batch")
    ap.add_argument("--steps-embedding", type=int, default=50)
    ap.add_argument("--steps-discrete", type=int, default=64)
    ap.add_argument("--steps-edit", type=int, default=12)
    ap.add_argument("--all-threads", type=int, default=0, help="also time the batch rows with this many threads")
    ap.add_argument("--backends", default="embedding,discrete,edit,ar,vs-ar",
                    help="vs-ar: unguided diffusion beside the AR model at several batch sizes (recipes/speed_vs_ar.py)")
    ap.add_argument("--vs-ar-batches", default="1,8,64")
    ap.add_argument("--vs-ar-n", type=int, default=128, help="samples per vs-ar row")
    ap.add_argument("--vs-ar-configs", default=DEFAULT_CONFIGS, help="MODEL@STEPS[:THRESHOLD], comma-separated")
    ap.add_argument("--sweep", action="append", default=[], metavar="BACKEND=S1,S2",
                    help="step counts of a backend's steps rows (default: half, once and twice its --steps-*)")
    ap.add_argument("--sweep-n", type=int, default=0, help="samples per steps row (default: --batch)")
    ap.add_argument("--sweep-only", action="store_true", help="only the batch and steps rows (quality-vs-steps curves)")
    ap.add_argument("--out", default="recipes/results/bench_speed.json")
    args = ap.parse_args()
    command = " ".join(["python recipes/bench_speed.py", *map(shlex.quote, sys.argv[1:])])  # as run
    torch.set_num_threads(1)
    args.batches = [int(b) for b in args.batches.split(",") if b]
    args.steps = {"embedding": args.steps_embedding, "discrete": args.steps_discrete, "edit": args.steps_edit}
    args.step_sweep = {k: sorted({max(1, v // 2), v, 2 * v}) if k != "edit" else sorted({3, v}) for k, v in args.steps.items()}
    for spec in args.sweep:
        k, _, v = spec.partition("=")
        args.step_sweep[k] = [int(x) for x in v.split(",")]
    quality = Quality(args.data, args.teacher)
    rows: list[dict[str, Any]] = []
    names = {"embedding": "e2e", "discrete": "e2e-sedd", "edit": "e2e-edit"}
    t0 = time.perf_counter()
    for backend in args.backends.split(","):
        if backend == "vs-ar":
            rows += bench_vs_ar(quality, [int(b) for b in args.vs_ar_batches.split(",")], args.vs_ar_n,
                                args.vs_ar_configs)
            continue
        rows += bench_ar(args, quality) if backend == "ar" else bench_backend(names[backend], backend, args, quality)
        print(table([r for r in rows if r["backend"] == names.get(backend, "e2e-ar-draft")]), flush=True)
    print("\n" + table(rows))
    write_json(args.out, {"command": command, "machine": machine(), "seconds": round(time.perf_counter() - t0, 1),
                          "rows": rows})


if __name__ == "__main__":
    main()
