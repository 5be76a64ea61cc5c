"""Training state without pickle, run-folder hygiene and resume policy (issue 18, "No pickle anywhere").

Tiny runs as in test_training.py (``tiny_toml``: 10 rows, hidden 32, a few steps, one thread)."""

import json
import logging
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ctrlgen.errors import CheckpointError, ConfigError
from ctrlgen.training.run import build_run, load_run_config, train_from_config


class _TouchOnLoad:
    """A crafted pickle: unpickling it calls ``Path.touch(marker)`` (no os.system needed)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def _weights(d: Path) -> dict:
    return load_file(str(d / "model.safetensors"))


def _same_weights(a: Path, b: Path) -> bool:
    x, y = _weights(a), _weights(b)
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


def _log_steps(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]


def _leftovers(run: Path) -> list[str]:
    return sorted(p.name for d in (run, run / "checkpoints") if d.is_dir() for p in d.iterdir()
                  if ".tmp" in p.name or ".old-" in p.name)


@pytest.mark.parametrize("name", ["training_state.pt", "notes"])
def test_crafted_pickle_in_a_run_folder_is_refused_never_loaded(tiny_toml, tmp_path, name):
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_TouchOnLoad(probe)))  # the payload works: loading it would create the marker
    assert probe.exists()
    train_from_config(tiny_toml(steps=2, every=2))
    marker = tmp_path / "pwned"
    ckdir = tmp_path / "run" / "checkpoints" / "step-0000002"
    if name.endswith(".pt"):  # the old format: torch.save of a dict (zip + pickle)
        torch.save({"step": 2, "evil": _TouchOnLoad(marker)}, ckdir / name)
    else:  # a bare pickle under a name that says nothing
        (ckdir / name).write_bytes(pickle.dumps(_TouchOnLoad(marker), protocol=4))
    with pytest.raises(CheckpointError, match="pickle") as e:
        train_from_config(tiny_toml(steps=4, every=2))
    assert "--output" in e.value.hint and "--no-resume" in e.value.hint
    assert not marker.exists()


def test_resume_loads_no_pickle(tiny_toml, tmp_path, monkeypatch):
    """Resuming reads JSON + safetensors only: with torch.load and pickle's loaders disabled it still works."""
    straight = train_from_config(tiny_toml(steps=4, every=4, out=tmp_path / "a"))
    train_from_config(tiny_toml(steps=2, every=2, out=tmp_path / "b"))

    def no(*a, **k):
        raise AssertionError("a pickle loader was called")

    for mod, name in [(torch, "load"), (pickle, "load"), (pickle, "loads"), (pickle, "Unpickler")]:
        monkeypatch.setattr(mod, name, no)
    resumed = train_from_config(tiny_toml(steps=4, every=2, out=tmp_path / "b"))
    assert _same_weights(straight, resumed)
    assert not list((tmp_path / "b").rglob("*.pt"))


def test_tampered_state_is_refused(tiny_toml, tmp_path):
    cfg = tiny_toml(steps=2, every=2)
    train_from_config(cfg)
    f = tmp_path / "run" / "checkpoints" / "step-0000002" / "training_state.safetensors"
    blob = bytearray(f.read_bytes())
    blob[-5] ^= 0xFF
    f.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="digest"):
        train_from_config(tiny_toml(steps=4, every=2))


def test_orphan_temporary_folders_are_removed(tiny_toml, tmp_path, caplog):
    train_from_config(tiny_toml(steps=2, every=2))
    run = tmp_path / "run"
    orphans = [run / "checkpoints" / ".step-0000004.tmp-k1ll3d", run / ".model.tmp-x9"]
    for d in orphans:
        d.mkdir()
        (d / "model.safetensors").write_bytes(b"half")
    (run / "latest.tmp").write_text("step-00")
    # a kill between the two renames of a re-written checkpoint: the complete old copy is put back
    (run / "checkpoints" / "step-0000002").rename(run / "checkpoints" / ".step-0000002.old-4242")
    with caplog.at_level(logging.WARNING, logger="ctrlgen.training.state"):
        train_from_config(tiny_toml(steps=4, every=2))
    assert _leftovers(run) == []
    assert sum("interrupted" in r.getMessage() for r in caplog.records) == 4
    assert _log_steps(run) == [1, 2, 3, 4]


def test_log_has_no_repeated_steps_after_resume(tiny_toml, tmp_path, monkeypatch):
    """A crash after step 6's log line but before its checkpoint: the resume starts at 3 and writes 4-6 again."""
    run = tmp_path / "run"
    trainer = build_run(load_run_config(tiny_toml(steps=6, every=3)))
    save = trainer.save_checkpoint

    def save_or_crash():
        if trainer.step == 6:
            raise RuntimeError("simulated crash")
        return save()

    monkeypatch.setattr(trainer, "save_checkpoint", save_or_crash)
    with pytest.raises(RuntimeError, match="simulated"):
        trainer.train()
    assert _log_steps(run) == [1, 2, 3, 4, 5, 6] and (run / "latest").read_text() == "step-0000003"
    with open(run / "log.jsonl", "a") as f:
        f.write('{"step": 7, "lo')  # and a torn last line
    train_from_config(tiny_toml(steps=6, every=3))
    assert _log_steps(run) == [1, 2, 3, 4, 5, 6]


def test_changed_config_or_seed_is_refused_then_allowed_and_recorded(tiny_toml, tmp_path, caplog):
    cfg = tiny_toml(steps=2, every=2)
    train_from_config(cfg)
    with pytest.raises(ConfigError, match="training.seed") as e:
        train_from_config(cfg, {"training.seed": 1, "training.steps": 4})
    assert "--allow-config-change" in e.value.hint
    with pytest.raises(ConfigError, match=r"training.lr \(0.001 -> 0.002\).*training.seed"):
        train_from_config(cfg, {"training.seed": 1, "training.lr": 2e-3, "training.steps": 4})
    with pytest.raises(ConfigError, match="diffusion.steps"):
        train_from_config(cfg, {"diffusion.steps": 50, "training.steps": 4})
    # logistics may change (and a longer run while the steps taken keep their learning rates: see below)
    train_from_config(cfg, {"training.steps": 3, "training.log_every": 2, "training.keep_checkpoints": 3})
    with caplog.at_level(logging.WARNING, logger="ctrlgen.training.trainer"):
        final = train_from_config(cfg, {"training.seed": 1, "training.steps": 4}, allow_config_change=True)
    assert any("training.seed" in r.getMessage() for r in caplog.records)
    saved = json.loads((final / "config.json").read_text())
    assert saved["training"]["seed"] == 1
    assert saved["config_changes"] == [{"step": 3, "changed": {"training.seed": [0, 1]}}]
    # the new seed is now the run's: resuming with it needs no flag, going back to 0 does
    train_from_config(cfg, {"training.seed": 1, "training.steps": 4})
    with pytest.raises(ConfigError, match="training.seed"):
        train_from_config(cfg, {"training.steps": 4})


def test_changed_steps_that_shift_the_schedule_are_refused(tiny_toml, tmp_path, caplog):
    """Cosine decay over ``steps`` (warmup 2): at step 4, 4 -> 8 changes the lr of step 3 (0.55e-3 -> ~0.93e-3),
    so it is refused; allowed, it gives other weights than a run started with 8, and is recorded."""
    straight8 = train_from_config(tiny_toml(steps=8, every=4, out=tmp_path / "straight"))
    cfg = tiny_toml(steps=4, every=4)
    train_from_config(cfg)
    with pytest.raises(ConfigError, match=r"training.steps \(4 -> 8\).*learning rate") as e:
        train_from_config(cfg, {"training.steps": 8})
    assert "--allow-config-change" in e.value.hint
    with pytest.raises(ConfigError, match="beyond training.steps = 3"):  # never, whatever the flag
        train_from_config(cfg, {"training.steps": 3}, allow_config_change=True)
    with caplog.at_level(logging.WARNING, logger="ctrlgen.training.trainer"):
        final = train_from_config(cfg, {"training.steps": 8}, allow_config_change=True)
    assert any("training.steps (4 -> 8)" in r.getMessage() for r in caplog.records)
    assert json.loads((final / "config.json").read_text())["config_changes"] == [
        {"step": 4, "changed": {"training.steps": [4, 8]}}]
    assert not _same_weights(straight8, final)  # what the refusal protects: the schedule did shift


@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_longer_run_with_the_same_past_schedule_resumes_exactly(tiny_toml, tmp_path, caplog, schedule):
    """steps 2 -> 6 at step 2 is still in warmup (cosine), and constant never depends on steps: allowed with a
    warning, and the result equals a run started with 6 steps bit for bit."""
    def toml(steps, out):
        p = tiny_toml(steps=steps, every=2, out=tmp_path / out)
        p.write_text(p.read_text().replace("lr = 1e-3", f'lr = 1e-3\nlr_schedule = "{schedule}"'))
        return p

    straight = train_from_config(toml(6, "straight"))
    train_from_config(toml(2, "run"))
    if schedule == "constant":  # also past warmup: 4 -> 6 at step 4
        train_from_config(toml(4, "run"))
    with caplog.at_level(logging.WARNING, logger="ctrlgen.training.trainer"):
        resumed = train_from_config(toml(6, "run"))
    assert _same_weights(straight, resumed)
    assert any("changed run settings" in r.getMessage() and "training.steps" in r.getMessage()
               for r in caplog.records)
    assert "config_changes" not in json.loads((resumed / "config.json").read_text())


def test_changed_logistics_are_allowed_and_logged_old_to_new(tiny_toml, tmp_path, caplog):
    cfg = tiny_toml(steps=2, every=2)
    train_from_config(cfg)
    changes = {"training.log_every": 2, "training.checkpoint_every": 1, "training.keep_checkpoints": 5,
               "training.threads": 2, "training.device": "cpu"}
    threads = torch.get_num_threads()
    try:
        with caplog.at_level(logging.WARNING, logger="ctrlgen.training.trainer"):
            final = train_from_config(cfg, {"training.steps": 4, **changes})
        warned = [r for r in caplog.records
                  if r.levelno == logging.WARNING and "changed run settings" in r.getMessage()]
        assert len(warned) == 1
        for shown in ["training.steps (2 -> 4)", "training.log_every (1 -> 2)", "training.checkpoint_every (2 -> 1)",
                      "training.keep_checkpoints (2 -> 5)", "training.threads (1 -> 2)",
                      "training.device ('auto' -> 'cpu')"]:
            assert shown in warned[0].getMessage(), shown
        assert "config_changes" not in json.loads((final / "config.json").read_text())
        assert _log_steps(tmp_path / "run") == [1, 2, 4]  # log_every 2 from step 2 on
        # the same settings again: the checkpoints of steps 3-4 hold them, nothing to say
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="ctrlgen.training.trainer"):
            train_from_config(cfg, {"training.steps": 4, **changes})
    finally:
        torch.set_num_threads(threads)
    assert not [r for r in caplog.records if "changed" in r.getMessage()]


def test_cli_allow_config_change_flag(tiny_toml, tmp_path, capsys):
    from ctrlgen.cli.main import main

    cfg = str(tiny_toml(steps=2, every=2))
    assert main(["train", cfg]) == 0
    assert main(["train", cfg, "--steps", "3", "--set", "training.seed=7"]) == 2
    err = capsys.readouterr().err
    assert "training.seed (0 -> 7)" in err and "--allow-config-change" in err
    assert main(["train", cfg, "--steps", "3", "--set", "training.seed=7", "--allow-config-change"]) == 0
    assert json.loads((tmp_path / "run" / "model" / "config.json").read_text())["training"]["seed"] == 7


_KILLER = """
import os, signal, sys
from pathlib import Path
from ctrlgen.training import state, trainer
from ctrlgen.training.run import train_from_config

point, calls = sys.argv[2], {"n": 0}

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def second_call(orig, before=None):
    def wrapped(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2 and before:
            before(*a, **k)
            die()
        out = orig(*a, **k)
        if calls["n"] == 2:
            die()
        return out
    return wrapped

def half_written(directory, st):  # the tensor file torn in the middle of its bytes
    blob = state.save_bytes(st.model)
    (directory / state.STATE_TENSORS).write_bytes(blob[: len(blob) // 2])

if point == "tensors":  # mid-write of training_state.safetensors
    state.write_training_state = second_call(state.write_training_state, before=half_written)
elif point == "state":  # state complete, temporary folder not yet renamed
    state.write_training_state = second_call(state.write_training_state)
elif point == "latest":  # folder renamed, 'latest' not yet updated
    trainer.Trainer._set_latest = second_call(trainer.Trainer._set_latest, before=lambda *a, **k: None)
train_from_config(sys.argv[1])
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_kill_during_checkpoint_write_leaves_a_resumable_run(tiny_toml, tmp_path):
    """SIGKILL at three points of the step-4 checkpoint write (real kills, in a subprocess): the next start
    removes the leftovers, resumes from step 2 and ends with the weights of an uninterrupted run."""
    straight = train_from_config(tiny_toml(steps=6, every=2, out=tmp_path / "straight"))
    script = tmp_path / "killer.py"
    script.write_text(_KILLER)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    points = ["tensors", "state", "latest"]
    cfgs = {p: tmp_path / f"{p}.toml" for p in points}
    for point, cfg in cfgs.items():
        cfg.write_text(tiny_toml(steps=6, every=2, out=tmp_path / point).read_text())
    procs = {p: subprocess.Popen([sys.executable, str(script), str(cfgs[p]), p], stderr=subprocess.PIPE, text=True,
                                 env=env) for p in points}  # in parallel
    for point, proc in procs.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == -9, (point, err[-2000:])
    for point, cfg in cfgs.items():
        run = tmp_path / point
        assert (run / "latest").read_text() == "step-0000002" and not (run / "model").exists()
        if point != "latest":
            assert _leftovers(run), point  # the kill did leave a temporary folder behind
        resumed = train_from_config(cfg)
        assert _leftovers(run) == [], point
        assert _same_weights(straight, resumed), point
        assert _log_steps(run) == [1, 2, 3, 4, 5, 6], point
