import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ctrlgen.errors import CheckpointError, ConfigError, TrainingStopped
from ctrlgen.training.run import build_run, load_run_config, train_from_config
from ctrlgen.training.trainer import TrainConfig, lr_at


def _weights(d: Path) -> dict:
    return load_file(str(d / "model.safetensors"))


def test_train_writes_checkpoints_and_log(tiny_toml, tmp_path):
    final = train_from_config(tiny_toml(steps=6, every=3))
    run = tmp_path / "run"
    assert final == run / "model" and (final / "config.json").is_file()
    assert (run / "latest").read_text() == "step-0000006"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-0000003", "step-0000006"]
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6] and all("mse" in r for r in log)
    cfg = json.loads((final / "config.json").read_text())
    assert cfg["data"]["fingerprint"].startswith("sha256:") and cfg["training"]["steps"] == 6


def test_resume_is_exact(tiny_toml, tmp_path):
    straight = train_from_config(tiny_toml(steps=6, every=6, out=tmp_path / "a"))
    train_from_config(tiny_toml(steps=3, every=3, out=tmp_path / "b"))
    resumed = train_from_config(tiny_toml(steps=6, every=3, out=tmp_path / "b"))
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_signal_stops_with_a_checkpoint_and_resume_is_exact(tiny_toml, tmp_path):
    """SIGTERM mid-run: the step finishes, a checkpoint is written off the usual schedule, the run raises
    TrainingStopped, and resuming gives the weights of an uninterrupted run."""
    import signal

    straight = train_from_config(tiny_toml(steps=6, every=6, out=tmp_path / "a"))
    trainer = build_run(load_run_config(tiny_toml(steps=6, every=6, out=tmp_path / "b")))
    forward = trainer.ddp.forward

    def forward_then_signal(batch, gen):
        if trainer.step == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return forward(batch, gen)

    trainer.ddp.forward = forward_then_signal
    with pytest.raises(TrainingStopped, match="step 4"):
        trainer.train()
    assert (tmp_path / "b" / "latest").read_text() == "step-0000004"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler restored
    resumed = train_from_config(tiny_toml(steps=6, every=6, out=tmp_path / "b"))
    a, b = _weights(straight), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_device_auto_and_bad_device(tiny_toml):
    from ctrlgen.training.trainer import resolve_device

    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            build_run(load_run_config(tiny_toml(steps=2, every=2), {"training.device": "cuda"}))


def test_no_resume_refuses_to_overwrite(tiny_toml, tmp_path):
    cfg = tiny_toml(steps=2, every=2)
    train_from_config(cfg)
    before = (tmp_path / "run" / "model" / "model.safetensors").read_bytes()
    with pytest.raises(CheckpointError, match="already holds"):
        train_from_config(cfg, resume=False)
    assert (tmp_path / "run" / "model" / "model.safetensors").read_bytes() == before


def test_resume_with_other_model_config_names_field(tiny_toml, tmp_path):
    cfg = tiny_toml(steps=2, every=2)
    train_from_config(cfg)
    with pytest.raises(ConfigError, match="model.hidden"):
        train_from_config(cfg, {"model.hidden": 16, "training.steps": 4})
    with pytest.raises(CheckpointError, match="does not fit"):  # allowed, but the weights cannot follow
        train_from_config(cfg, {"model.hidden": 16, "training.steps": 4}, allow_config_change=True)


def test_config_errors(tiny_toml, tmp_path):
    cfg = tiny_toml()
    with pytest.raises(ConfigError, match="training.lrr"):
        load_run_config(cfg, {"training.lrr": 1.0})
    with pytest.raises(ConfigError, match="did you mean 'lr'"):
        load_run_config(cfg, {"training.lrr": 1.0})
    with pytest.raises(ConfigError, match="should be of type int"):
        load_run_config(cfg, {"training.steps": "many"})
    with pytest.raises(ConfigError, match="schedule"):
        load_run_config(cfg, {"diffusion.schedule": "quadratic"})
    with pytest.raises(ConfigError, match="model.colour"):
        load_run_config(cfg, {"model.colour": 3})
    with pytest.raises(ConfigError, match="does not exist"):
        load_run_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[data\n")
    with pytest.raises(ConfigError, match="TOML"):
        load_run_config(bad)


def test_lr_schedule():
    c = TrainConfig(steps=100, lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_at(c, 0) == pytest.approx(0.1) and lr_at(c, 9) == pytest.approx(1.0)
    assert lr_at(c, 100) == pytest.approx(0.1) and lr_at(c, 55) == pytest.approx(0.55)


@pytest.mark.skipif(sys.platform == "win32", reason="gloo via torchrun")
def test_torchrun_two_processes(tiny_toml, tmp_path):
    """The same trainer runs unchanged under DDP (2 CPU processes, gloo)."""
    cfg = tiny_toml(steps=3, every=3)
    code = "import sys; from ctrlgen.training.run import train_from_config; train_from_config(sys.argv[1])"
    script = tmp_path / "train_ddp.py"
    script.write_text(code)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        str(script), str(cfg)], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    assert [json.loads(l)["step"] for l in (tmp_path / "run" / "log.jsonl").read_text().splitlines()] == [1, 2, 3]


def test_ar_backend_trains_and_loads(tiny_toml, tmp_path):
    """backend = "ar" (teacher / draft LM) goes through the same trainer and checkpoint format."""
    from ctrlgen.models.ar_lm import ARLM
    from ctrlgen.models.pretrained import load_pretrained

    text = tiny_toml(steps=2, every=2).read_text().replace('output_dir', 'backend = "ar"\noutput_dir', 1)
    text = text.replace("embed_dim = 8\n", "").replace("[diffusion]\nsteps = 100\n", "")
    cfg = tmp_path / "ar.toml"
    cfg.write_text(text)
    final = train_from_config(cfg)
    model, tok, meta = load_pretrained(final, ARLM)
    assert meta["model_type"] == "ar-lm" and "diffusion" not in meta
    bad = tmp_path / "ar_bad.toml"
    bad.write_text(text + "\n[diffusion]\nsteps = 10\n")
    with pytest.raises(ConfigError, match="diffusion"):
        load_run_config(bad)


def test_discrete_backend_trains_and_loads(tiny_toml, tmp_path):
    """backend = "discrete" (SEDD) trains a ScoreModel; its [diffusion] table is the discrete config."""
    from ctrlgen.backends.discrete.model import ScoreModel
    from ctrlgen.models.pretrained import load_pretrained

    text = tiny_toml(steps=2, every=2).read_text().replace('output_dir', 'backend = "discrete"\noutput_dir', 1)
    text = text.replace("embed_dim = 8\n", "").replace("[diffusion]\nsteps = 100\n", '[diffusion]\ngraph = "absorbing"\n')
    cfg = tmp_path / "sedd.toml"
    cfg.write_text(text)
    final = train_from_config(cfg)
    model, tok, meta = load_pretrained(final, ScoreModel)
    assert meta["model_type"] == "sedd-score" and meta["diffusion"]["noise"] == "loglinear"
    with pytest.raises(ConfigError, match="model.graph"):
        build_run(load_run_config(cfg, {"diffusion.graph": "uniform"}))
    with pytest.raises(ConfigError, match="schedule"):
        load_run_config(cfg, {"diffusion.schedule": "sqrt"})  # an embedding key in a discrete table


def test_unknown_backend_lists_the_registered_ones(tiny_toml):
    from ctrlgen.registry import RegistryError

    with pytest.raises((ConfigError, RegistryError), match="discrete"):
        load_run_config(tiny_toml(), {"backend": "gaussian"})
