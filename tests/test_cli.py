import json
import subprocess
import sys

import pytest

from ctrlgen.cli.main import main


def test_generate_json(model_dir, capsys):
    assert main(["generate", "--model", str(model_dir), "-n", "3", "--steps", "4", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    rows = [json.loads(line) for line in lines]
    assert all(isinstance(r["text"], str) and isinstance(r["well_formed"], bool) for r in rows)


def test_generate_is_seeded(model_dir, capsys):
    main(["generate", "--model", str(model_dir), "-n", "2", "--steps", "4", "--seed", "7"])
    a = capsys.readouterr().out
    main(["generate", "--model", str(model_dir), "-n", "2", "--steps", "4", "--seed", "7"])
    assert capsys.readouterr().out == a


@pytest.mark.parametrize("argv,msg", [
    (["generate", "--model", "{tmp}/no/such/dir"], "no model named"),
    (["generate", "--steps", "5000", "--model", "{m}"], "exceeds"),
    (["train", "{tmp}/no/such.toml"], "does not exist"),
])
def test_user_errors_exit_nonzero_without_traceback(argv, msg, model_dir, tmp_path, capsys):
    argv = [a.replace("{m}", str(model_dir)).replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert msg in err and "hint:" in err and "Traceback" not in err


def test_bad_n_is_rejected():
    r = subprocess.run([sys.executable, "-m", "ctrlgen.cli", "generate", "-n", "0"], capture_output=True, text=True)
    assert r.returncode != 0 and "must be > 0" in r.stderr and "Traceback" not in r.stderr


def test_train_cli(tiny_toml, tmp_path, capsys):
    assert main(["train", str(tiny_toml(steps=2, every=2)), "--set", "training.lr=2e-3"]) == 0
    assert (tmp_path / "run" / "model" / "config.json").is_file()
    assert main(["train", str(tiny_toml(steps=2, every=2)), "--no-resume"]) == 2
    assert main(["train", str(tiny_toml()), "--set", "training.lrr=1"]) == 2
    assert "did you mean 'lr'" in capsys.readouterr().err


def test_env(capsys):
    assert main(["env"]) == 0
    assert "ctrlgen" in capsys.readouterr().out


def test_generate_with_constraint_json(model_dir, capsys):
    assert main(["generate", "--model", str(model_dir), "-n", "2", "--steps", "3", "--constraint", "length=5",
                 "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["satisfied"] for r in rows] == [{"Length(5)": True}] * 2


def test_infill_cli(model_dir, capsys):
    assert main(["infill", "The Mill is a [MASK:2] pub .", "--model", str(model_dir), "-n", "3", "--steps", "3",
                 "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 3 and all(r["text"].startswith("The Mill is a") for r in rows)
    assert all("mbr" in r and all(r["satisfied"].values()) for r in rows)


def test_bad_constraint_spec(model_dir, capsys):
    assert main(["generate", "--model", str(model_dir), "--constraint", "colour=red"]) == 2
    assert "colour" in capsys.readouterr().err
    assert main(["infill", "The Zorblax is a [MASK] .", "--model", str(model_dir), "--steps", "3"]) == 2
    assert "Zorblax" in capsys.readouterr().err


def test_guidance_options_per_backend(model_dir, capsys):
    """Embedding: --guidance-scale / --fluency-weight build a GuidanceConfig; --guidance-shortlist is the
    discrete backend's and is refused here with a hint."""
    assert main(["generate", "--model", str(model_dir), "-n", "1", "--steps", "2", "--guidance-scale", "2",
                 "--fluency-weight", "0.1"]) == 0
    capsys.readouterr()
    assert main(["generate", "--model", str(model_dir), "-n", "1", "--guidance-shortlist", "4"]) == 2
    assert "--backend discrete" in capsys.readouterr().err
