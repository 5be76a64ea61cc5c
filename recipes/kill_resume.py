"""kill -9 during checkpoint writes, then resume: the final weights must equal an uninterrupted run's, bit for bit.

```bash
python recipes/kill_resume.py --out recipes/results/kill_resume.json      # 20 trials, ~5 min on 2 busy cores
```

Data and model: the 10-row ``tests/fixtures/tiny_e2e.csv`` and a tiny embedding model (hidden 32, 2 layers),
``--steps`` optimiser steps with a checkpoint every ``--every`` steps, one thread (``threads = 1`` and
``OMP_NUM_THREADS=1``), seed 0. Each training is ``ctrlgen train run.toml`` (``ctrlgen.cli.main.main``) in its own
process: forked from this script, which imported torch and ctrlgen once (importing torch costs ~10 s of CPU per
process on a busy 2-core machine), or with ``--fresh-python`` a new ``python -m ctrlgen.cli train`` each time.
Either way the kill is a real SIGKILL of the process that trains.

1. A reference run trains to the end uninterrupted; while it runs, this script polls the run folder and notes how
   long each temporary checkpoint folder (``checkpoints/.step-K.tmp-*``, ``.model.tmp-*``) is visible: the
   write window.
2. Each trial starts a fresh run and sends it SIGKILL from outside (``os.kill``, a real kill -9):
   ``write`` trials wait for the N-th temporary folder to appear (N drawn over all checkpoint writes and the
   final model write), then kill at a drawn phase (:func:`plan`: a random delay of 0 to 1 median window, the
   moment the training state file shows, or the moment the folder is renamed); ``random`` trials kill at a
   random moment of the training. A run that ends before its kill is started again with a new draw
   (``attempts``). Whether the kill landed inside a write is not assumed but read from the folder after the
   kill: a temporary or ``.old-`` folder left behind means it did.
3. The same command runs again (resume) to completion. Checked: exit 0, no ``.tmp``/``.old-`` leftovers,
   ``log.jsonl`` holds steps 1..N once each, every tensor of ``model/model.safetensors`` and of the last
   checkpoint's ``training_state.safetensors`` (raw weights, EMA, optimizer) ``torch.equal`` to the reference.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ["OMP_NUM_THREADS"] = "1"  # before torch loads: the forked trainers inherit a one-thread torch
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "tests" / "fixtures" / "tiny_e2e.csv"
TOML = """output_dir = "{out}"
backend = "embedding"
[data]
train = "{csv}"
min_count = 1
[model]
seq_len = 24
embed_dim = 8
hidden = 32
layers = 2
heads = 2
dropout = 0.0
[diffusion]
steps = 100
[training]
steps = {steps}
batch_size = 4
lr = 1e-3
warmup_steps = 2
checkpoint_every = {every}
keep_checkpoints = 2
log_every = 1
threads = 1
seed = 0
"""
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
FRESH = False  # --fresh-python: a new interpreter per training instead of a fork


class Child:
    """One ``ctrlgen train CONFIG`` process, output to ``CONFIG.log``: ``pid``, ``poll()`` (exit code or None;
    a signal is its negative number), ``wait()``."""

    def __init__(self, cfg: Path) -> None:
        log = cfg.with_suffix(".log")
        if FRESH:
            with open(log, "a") as f:
                self._proc: Any = subprocess.Popen([sys.executable, "-m", "ctrlgen.cli", "train", str(cfg)],
                                                   env=ENV, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
        else:
            self._proc = mp.get_context("fork").Process(target=_train, args=(str(cfg), str(log)))
            self._proc.start()
        self.pid = self._proc.pid

    def poll(self) -> int | None:
        return self._proc.poll() if FRESH else self._proc.exitcode

    def wait(self, timeout: float = 600) -> int:
        if FRESH:
            return self._proc.wait(timeout)
        self._proc.join(timeout)
        return self._proc.exitcode


def _train(cfg: str, log: str) -> None:
    """Body of a forked trainer: the CLI's ``main`` with stdout/stderr to ``log``; exits with its code."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    from ctrlgen.cli.main import main

    sys.exit(main(["train", cfg]))


def preload() -> None:
    """Import what ``ctrlgen train`` imports (torch, torch._dynamo which AdamW loads lazily, the trainer, the
    embedding family, spaCy's tokenizer), so that forks start warm; nothing runs a torch op here, so no thread
    pool exists at the fork."""
    import torch._dynamo  # noqa: F401

    import ctrlgen.cli.main
    import ctrlgen.cli.train  # noqa: F401
    from ctrlgen.text.tokenizer import Tokenizer
    from ctrlgen.training.run import get_family

    get_family("embedding")
    Tokenizer.train(["a warm up line ."], 1)


def leftovers(run: Path) -> list[str]:
    """Temporary or half-renamed names a write leaves behind: ``.tmp`` / ``.old-`` in the run or its checkpoints."""
    return sorted(p.name for d in (run, run / "checkpoints") if d.is_dir() for p in os.scandir(d)
                  if ".tmp" in p.name or ".old-" in p.name)


def write_dirs(run: Path) -> list[str]:
    """The temporary folders of checkpoint / model writes visible now (each write has its own random suffix)."""
    return [n for n in leftovers(run) if ".tmp-" in n]


def start(cfg: Path) -> Child:
    return Child(cfg)


def pause() -> None:
    """Between two looks at the run folder: 0.5 ms (a write window lasts tens of ms; a busy loop would slow the
    trainer on a small machine)."""
    time.sleep(0.0005)


def reference(cfg: Path, run: Path) -> dict[str, Any]:
    """Train uninterrupted while timing each write window (first to last sighting of its temporary folder)."""
    t0 = time.perf_counter()
    proc, seen, first_log = start(cfg), {}, None
    while proc.poll() is None:
        now = time.perf_counter() - t0
        for name in write_dirs(run):
            seen.setdefault(name, [now, now])[1] = now
        if first_log is None and (run / "log.jsonl").exists():
            first_log = now
        pause()
    if proc.wait() != 0:
        raise SystemExit(f"reference run failed ({proc.poll()}):\n{cfg.with_suffix('.log').read_text()[-3000:]}")
    windows = [b - a for a, b in seen.values()]
    return {"seconds": time.perf_counter() - t0, "first_log_s": first_log, "writes_seen": len(seen),
            "window_ms_median": 1e3 * statistics.median(windows) if windows else None,
            "window_ms_max": 1e3 * max(windows) if windows else None}


def tensors(run: Path) -> dict[str, torch.Tensor]:
    """Final EMA weights and the last checkpoint's raw weights, EMA and optimizer tensors (RNG states left out)."""
    out = {f"model/{k}": v for k, v in load_file(str(run / "model" / "model.safetensors")).items()}
    last = run / "checkpoints" / (run / "latest").read_text().strip() / "training_state.safetensors"
    out.update({f"state/{k}": v for k, v in load_file(str(last)).items() if not k.startswith("rng.")})
    return out


def identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def log_steps(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]


def plan(mode: str, ref: dict[str, Any], writes: int, rnd: random.Random) -> dict[str, Any]:
    """Where one kill goes. ``write``: the N-th write, at a phase: ``delay`` (0 to 1 median window after its
    temporary folder appears), ``state`` (as soon as ``training_state.safetensors`` shows in it: the state is
    being finished) or ``renamed`` (as soon as the folder has been renamed: ``latest`` may still name the older
    checkpoint). ``random``: a moment of the training, uniform over the reference run's steps."""
    if mode == "random":
        return {"mode": mode, "at_s": rnd.uniform(ref["first_log_s"], 0.9 * ref["seconds"])}
    target = rnd.randint(1, writes)
    phase = rnd.choices(["delay", "state", "renamed"], [3, 1, 1])[0] if target < writes else "delay"
    return {"mode": mode, "target_write": target, "phase": phase,
            "delay_ms": rnd.uniform(0, ref["window_ms_median"]) if phase == "delay" else None}


def kill_once(cfg: Path, run: Path, how: dict[str, Any]) -> dict[str, Any]:
    """Start a fresh run, SIGKILL it as ``how`` says, and describe what the kill left on disk."""
    shutil.rmtree(run, ignore_errors=True)
    t0 = time.perf_counter()
    proc, seen, killed_at = start(cfg), [], None
    while proc.poll() is None and killed_at is None:
        now = time.perf_counter() - t0
        if how["mode"] == "random":
            if now >= how["at_s"]:
                killed_at = now
        else:
            seen += [n for n in write_dirs(run) if n not in seen]
            if len(seen) >= how["target_write"]:
                folder = (run / "checkpoints" if seen[-1].startswith(".step-") else run) / seen[-1]
                end = time.perf_counter() + (how["delay_ms"] or 0) / 1e3
                while proc.poll() is None and (  # busy: these windows last milliseconds or less
                        time.perf_counter() < end if how["phase"] == "delay" else
                        folder.exists() and not (folder / "training_state.safetensors").exists()
                        if how["phase"] == "state" else folder.exists()):
                    pass
                killed_at = time.perf_counter() - t0
        if killed_at is not None:
            os.kill(proc.pid, signal.SIGKILL)
        else:
            pause()
    code = proc.wait()
    left = leftovers(run)
    tmp = [run / "checkpoints" / n if (run / "checkpoints" / n).exists() else run / n for n in left]
    latest = (run / "latest").read_text().strip() if (run / "latest").exists() else None
    on_disk = sorted(p.name for p in (run / "checkpoints").glob("step-*")) if (run / "checkpoints").exists() else []
    return {**how, "killed_at_s": killed_at, "returncode": code, "killed": code == -signal.SIGKILL,
            "logged_steps_at_kill": len(log_steps(run)) if (run / "log.jsonl").exists() else 0,
            "latest_at_kill": latest, "checkpoints_at_kill": on_disk,
            "latest_behind": bool(on_disk) and latest != on_disk[-1],  # killed after a rename, before 'latest'
            "inside_write": bool(left), "left_at_kill": left,
            "files_in_tmp_at_kill": sorted({f.name for d in tmp if d.is_dir() for f in d.iterdir()})}


def trial(i: int, mode: str, cfg: Path, run: Path, ref: dict[str, Any], writes: int, steps: int,
          rnd: random.Random, ref_tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Kill (a new plan while the run ends before the kill comes, at most 5 tries), then resume and check."""
    for attempt in range(1, 6):
        rec = {"trial": i, "attempts": attempt, **kill_once(cfg, run, plan(mode, ref, writes, rnd))}
        if rec["killed"]:
            break
    rec["resume_returncode"] = start(cfg).wait()
    if rec["resume_returncode"] != 0:
        rec["resume_output"] = cfg.with_suffix(".log").read_text()[-2000:]
    rec["orphans_after_resume"] = leftovers(run)
    rec["log_steps_ok"] = (run / "log.jsonl").exists() and log_steps(run) == list(range(1, steps + 1))
    rec["identical"] = rec["resume_returncode"] == 0 and identical(tensors(run), ref_tensors)
    rec["ok"] = rec["killed"] and rec["identical"] and not rec["orphans_after_resume"] and rec["log_steps_ok"]
    return rec


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--random-trials", type=int, default=6, help="of --trials, killed at a random moment")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--every", type=int, default=2, help="checkpoint every N steps")
    ap.add_argument("--seed", type=int, default=0, help="seed of the kill schedule")
    ap.add_argument("--fresh-python", action="store_true", help="a new interpreter per training (slow), not a fork")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    global FRESH
    FRESH = args.fresh_python
    if not FRESH:
        preload()
    rnd = random.Random(args.seed)
    modes = ["random"] * args.random_trials + ["write"] * (args.trials - args.random_trials)
    rnd.shuffle(modes)
    writes = args.steps // args.every + (args.steps % args.every != 0) + 1  # checkpoints + the final model/
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kill_resume-") as tmp:
        def config(name: str) -> tuple[Path, Path]:
            run, cfg = Path(tmp) / name, Path(tmp) / f"{name}.toml"
            cfg.write_text(TOML.format(out=run.as_posix(), csv=CSV.as_posix(), steps=args.steps, every=args.every))
            return cfg, run

        ref = reference(*config("reference"))
        ref_tensors = tensors(Path(tmp) / "reference")
        print(f"reference: {ref['seconds']:.1f}s, {ref['writes_seen']} write windows seen, median "
              f"{ref['window_ms_median']:.1f} ms", flush=True)
        trials = []
        for i, mode in enumerate(modes):
            rec = trial(i, mode, *config(f"trial-{i:02d}"), ref, writes, args.steps, rnd, ref_tensors)
            trials.append(rec)
            print(f"{i:2d} {mode:6s} {rec.get('phase') or '':7s} killed={rec['killed']} at "
                  f"{rec['killed_at_s'] or 0:.3f}s inside_write="
                  f"{rec['inside_write']} left={rec['left_at_kill']} identical={rec['identical']} "
                  f"orphans={rec['orphans_after_resume']} log_ok={rec['log_steps_ok']}", flush=True)
    summary = {
        "trials": len(trials), "killed": sum(r["killed"] for r in trials),
        "killed_inside_write": sum(r["killed"] and r["inside_write"] for r in trials),
        "killed_between_rename_and_latest": sum(r["killed"] and r["latest_behind"] for r in trials),
        "killed_by_phase": {k: sum(r["killed"] and (r.get("phase") or r["mode"]) == k for r in trials)
                            for k in ("random", "delay", "state", "renamed")},
        "tmp_contents_at_kill": sorted({" + ".join(r["files_in_tmp_at_kill"]) or "(empty)"
                                        for r in trials if r["inside_write"]}),
        "extra_attempts": sum(r["attempts"] - 1 for r in trials),
        "identical": sum(r["identical"] for r in trials),
        "with_orphans_after_resume": sum(bool(r["orphans_after_resume"]) for r in trials),
        "log_steps_ok": sum(r["log_steps_ok"] for r in trials), "all_ok": all(r["ok"] for r in trials),
        "seconds": time.perf_counter() - t_all}
    result = {"command": "python recipes/kill_resume.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "setup": {"steps": args.steps, "checkpoint_every": args.every, "writes_per_run": writes,
                        "threads": 1, "seed": args.seed, "data": "tests/fixtures/tiny_e2e.csv",
                        "process": "python -m ctrlgen.cli train" if FRESH else "fork of a preloaded ctrlgen train",
                        "model": "embedding, hidden 32, 2 layers, seq_len 24",
                        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"},
              "reference": ref, "summary": summary, "trials": trials}
    print(json.dumps(summary, indent=1))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    sys.exit(0 if main()["summary"]["all_ok"] else 1)
