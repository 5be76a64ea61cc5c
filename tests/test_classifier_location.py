"""Nothing writes into the installed package: ``train-classifier`` for a bundled model writes to the user
location ($CTRLGEN_HOME, else $XDG_CACHE_HOME/ctrlgen, else ~/.cache/ctrlgen), the lookup finds it there
before the bundled classifier, a read-only target fails before training, a read-only install trains fine.
Tiny settings only (2 training steps, width 16)."""

from __future__ import annotations

import dataclasses
import importlib.resources
import logging
import os
import shutil
import stat
from pathlib import Path

import pytest
from conftest import TINY_CSV

import ctrlgen
from ctrlgen import (
    CLASSIFIERS,
    ConfigError,
    ModelContext,
    SemanticField,
    fit_classifier,
)
from ctrlgen.cli import train_classifier as tc
from ctrlgen.constraints.fingerprint import (
    classifier_home,
    model_key,
    package_root,
    user_home,
)
from ctrlgen.models.assets import MODELS
from ctrlgen.text.e2e import read_e2e_csv

pytest.importorskip("classifiers")
TRAIN = {"steps": 2, "data": str(TINY_CSV), "valid": str(TINY_CSV), "device": "cpu"}


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder below ``root``: relative path → (size, mtime in ns)."""
    return {str(p.relative_to(root)): (p.stat().st_size if p.is_file() else -1, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


def bound_classifier(gen, caplog) -> tuple[int, str]:
    """The ``hidden`` width of the classifier ``SemanticField`` binds for ``gen`` and the lookup's INFO line."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="ctrlgen.constraints.classifier"):
        (term,) = gen.prepare(SemanticField("food", "Italian", steer="classifier")).soft_terms
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("classifier semantic.v1")]
    assert len(lines) == 1, caplog.text
    return term.constraint.classifier_module.hparams["hidden"], lines[0]


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("CTRLGEN_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_user_home_order_and_model_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    monkeypatch.delenv("CTRLGEN_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert user_home() == tmp_path / "h" / ".cache" / "ctrlgen"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert user_home() == tmp_path / "xdg" / "ctrlgen"
    monkeypatch.setenv("CTRLGEN_HOME", str(tmp_path / "c"))
    assert user_home() == tmp_path / "c"
    e2e = package_root() / "assets" / "e2e"
    assert model_key(e2e) == "e2e" and classifier_home(e2e) == tmp_path / "c" / "classifiers" / "e2e"
    a, b = tmp_path / "a" / "ckpt", tmp_path / "b" / "ckpt"  # same folder name, other checkpoints
    assert model_key(a).startswith("ckpt-") and model_key(a) != model_key(b)
    assert tc.default_output(e2e, "pos") == tmp_path / "c" / "classifiers" / "e2e" / "pos"
    assert tc.default_output(a, "pos") == a / "classifiers" / "pos"  # a user's checkpoint: beside it


def test_bundled_model_trains_to_user_location_never_the_package(home, capsys, caplog):
    """The issue's command (`train-classifier semantic --model e2e`) leaves the package as it was; the new
    classifier is found before the bundled one, which is found again once the user's is removed."""
    from ctrlgen.cli.main import main

    assets = package_root() / "assets"
    before = snapshot(assets)
    argv = ["train-classifier", "semantic", "--model", "e2e", "--data", str(TINY_CSV), "--valid", str(TINY_CSV),
            "--steps", "2", "--device", "cpu", "--option", "hidden=16", "--option", "layers=1"]
    assert main(argv) == 0
    written = Path(capsys.readouterr().out.strip())
    assert written == home / "classifiers" / "e2e" / "semantic" and (written / "model.safetensors").is_file()
    assert snapshot(assets) == before

    gen = ctrlgen.load("e2e")
    hidden, line = bound_classifier(gen, caplog)
    assert hidden == 16 and "user location" in line and str(written) in line
    shutil.rmtree(written)
    hidden, line = bound_classifier(gen, caplog)
    assert hidden != 16 and "beside the model" in line and str(Path("e2e", "classifiers", "semantic")) in line

    inside = assets / "e2e" / "classifiers" / "semantic"  # an explicit --output into the package is refused
    assert main([*argv, "--output", str(inside)]) == 2
    err = capsys.readouterr().err
    assert "inside the installed ctrlgen package" in err and str(written) in err  # the hint names the user location
    assert snapshot(assets) == before


def test_save_pretrained_refuses_the_package(tiny_model, tokenizer, diffusion, model_dir):
    ctx = ModelContext.of(tiny_model, diffusion, model_dir, tokenizer)
    clf = CLASSIFIERS.get("semantic.v1").create(read_e2e_csv(TINY_CSV), ctx, hidden=16, layers=1, heads=2)
    target = package_root() / "assets" / "e2e" / "classifiers" / "mine"
    with pytest.raises(ConfigError, match="inside the installed ctrlgen package"):
        clf.save_pretrained(target)
    assert not target.exists()


def _read_only(root: Path) -> None:
    for p in [root, *root.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)


def _writable(root: Path) -> None:
    for p in [root, *root.rglob("*")]:
        p.chmod(p.stat().st_mode | stat.S_IWUSR)


def test_read_only_install_trains_to_user_location(home, tmp_path, monkeypatch, model_dir, tiny_model, tokenizer,
                                                   diffusion, caplog):
    """A tiny model bundled in a read-only copy of the package (with a bundled semantic classifier beside it):
    training writes to the user location, the package is untouched, the lookup prefers the user's classifier
    and skips (with a warning) one trained for another model."""
    pkg = tmp_path / "site-packages" / "ctrlgen"
    bundled = pkg / "assets" / "tiny-bundled"
    shutil.copytree(model_dir, bundled)
    ctx = ModelContext.of(tiny_model, diffusion, bundled, tokenizer)
    rows = read_e2e_csv(TINY_CSV)
    clf = CLASSIFIERS.get("semantic.v1").create(rows, ctx, hidden=8, layers=1, heads=2)
    fit_classifier(clf, ctx, clf.make_data(rows, ctx), steps=1, batch_size=4, progress=False)
    clf.save_pretrained(bundled / "classifiers" / "semantic")  # before the package is pointed at: allowed
    files = importlib.resources.files
    monkeypatch.setattr(importlib.resources, "files", lambda p: pkg if p == "ctrlgen" else files(p))
    monkeypatch.setitem(MODELS._items, "tiny-bundled", "tiny-bundled")
    assert package_root() == pkg.resolve()
    _read_only(pkg)
    try:
        before = snapshot(pkg)
        out = tc.train("semantic", "tiny-bundled", options={"hidden": 16, "layers": 1}, **TRAIN)
        assert out == home / "classifiers" / "tiny-bundled" / "semantic"
        assert snapshot(pkg) == before

        gen = ctrlgen.load("tiny-bundled")
        hidden, line = bound_classifier(gen, caplog)
        assert hidden == 16 and "user location" in line
        stale = CLASSIFIERS.get("semantic.v1").create(rows, ctx, hidden=24, layers=1, heads=2)
        stale.fingerprint = dataclasses.replace(ctx.fingerprint, embeddings="0" * 16)
        stale.save_pretrained(out)  # the user's copy was trained for another model (the bundled one changed)
        hidden, line = bound_classifier(gen, caplog)
        assert hidden == 8 and "beside the model" in line
        assert any("skipping" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
        assert snapshot(pkg) == before
    finally:
        _writable(pkg)


def test_unwritable_target_fails_before_training(model_dir, tmp_path, monkeypatch):
    """A target that cannot be written fails up front (typed error, hint naming the user location), before the
    model or any data is loaded."""
    monkeypatch.setattr(tc, "load", lambda *a, **k: pytest.fail("loaded the model before checking the target"))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="not a folder"):
        tc.train("semantic", str(model_dir), out=str(blocker / "semantic"), **TRAIN)

    access = os.access  # the check as a user whom chmod restricts sees it (runs as root too)
    with monkeypatch.context() as m:
        m.setattr(os, "access", lambda p, mode: Path(p) != model_dir and access(p, mode))
        with pytest.raises(ConfigError, match=f"{model_dir} is not writable"):
            tc.train("semantic", str(model_dir), **TRAIN)

    model_dir.chmod(0o555)  # a user's own read-only checkpoint: the default target is beside it
    try:
        if os.access(model_dir, os.W_OK):
            pytest.skip("running as a user whom chmod does not restrict (root)")
        with pytest.raises(ConfigError, match="not writable") as e:
            tc.train("semantic", str(model_dir), **TRAIN)
        assert str(classifier_home(model_dir) / "semantic") in e.value.hint
        assert not (model_dir / "classifiers").exists()
    finally:
        model_dir.chmod(0o755)
