"""The bundled default model loads offline and generates."""

import ctrlgen
from ctrlgen.models.assets import resolve_model_path


def test_bundled_model_generates():
    assert (resolve_model_path("e2e") / "README.md").is_file(), "the default model documents its recipe"
    gen = ctrlgen.load("e2e")
    out = gen.generate(n=2, steps=10, seed=0)
    assert len(out.texts) == 2 and all(isinstance(t, str) for t in out.texts)
    assert out.texts == gen.generate(n=2, steps=10, seed=0).texts


def test_bundled_teacher_scores():
    from ctrlgen.oracles.teacher import Teacher

    teacher = Teacher.load("e2e-teacher-1")
    assert teacher.name == "e2e-teacher-1" and len(teacher.fingerprint) == 64
    fluent = teacher.score(["The Vaults is a pub near Café Adriatic ."])
    salad = teacher.score(["pub near The is . Café a Vaults Adriatic"])
    assert 1.0 < fluent < salad
