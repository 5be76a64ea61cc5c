"""The bundled default model loads offline and generates."""

import ctrlgen
from ctrlgen.pipeline import resolve_model_path


def test_bundled_model_generates():
    assert (resolve_model_path("e2e") / "README.md").is_file(), "the default model documents its recipe"
    gen = ctrlgen.load("e2e")
    out = gen.generate(n=2, steps=10, seed=0)
    assert len(out.texts) == 2 and all(isinstance(t, str) for t in out.texts)
    assert out.texts == gen.generate(n=2, steps=10, seed=0).texts
