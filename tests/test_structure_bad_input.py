"""Bad structural input fails with a typed error and a hint on every backend, by ``prepare()`` time (issue 14).

POS tags outside the tag set, trees that do not parse or whose yield is longer than the model's sequence, and
spans out of range, reversed or crossing: each is built and prepared through the Generator API of the bundled
embedding, discrete, edit and masked models (seq_len 48: 46 words fit). A backend may refuse the constraint kind
outright (``UnsupportedConstraintError``, naming the backends that serve it); otherwise a too-long input must be
refused *because* of its length (the message names ``seq_len``), never accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import ctrlgen
from ctrlgen.constraints.base import ConstraintError, UnsupportedConstraintError
from ctrlgen.constraints.pos import POS
from ctrlgen.constraints.syntax import SyntaxSpans, SyntaxTree
from ctrlgen.errors import CtrlgenError

MODELS = {"embedding": "e2e", "discrete": "e2e-sedd", "edit": "e2e-edit", "masked": "e2e-masked"}
TOO_LONG = 60  # words: more than seq_len - 2 = 46

MALFORMED: dict[str, Callable[[], Any]] = {
    "pos-tag-outside-set": lambda: POS(["DET", "NOUN", "FOO"]),
    "pos-lowercase-tag": lambda: POS("det,noun"),
    "tree-unbalanced": lambda: SyntaxTree("(S (NP (DT The) (NN pub))"),
    "tree-no-words": lambda: SyntaxTree("(S )"),
    "span-negative": lambda: SyntaxSpans([(-1, 2, "NP")]),
    "span-reversed": lambda: SyntaxSpans([(5, 2, "NP")]),
    "span-crossing": lambda: SyntaxSpans([(1, 3, "NP"), (2, 5, "VP")]),
}
TOO_BIG: dict[str, Callable[[], Any]] = {
    "pos-too-many-tags": lambda: POS(["NOUN"] * TOO_LONG),
    "tree-yield-too-long": lambda: SyntaxTree("(S " + " ".join("(NN w)" for _ in range(TOO_LONG)) + ")"),
    "span-out-of-range": lambda: SyntaxSpans([(3, TOO_LONG, "NP")]),
}


@pytest.fixture(scope="module")
def generators() -> dict[str, Any]:
    return {backend: ctrlgen.load(name) for backend, name in MODELS.items()}


def _assert_helpful(err: ConstraintError) -> None:
    assert err.hint and err.hint.strip(), f"no hint on {err.message!r}"


@pytest.mark.parametrize("backend", MODELS)
@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_structure_is_a_typed_error_with_a_hint(generators, backend: str, case: str) -> None:
    gen = generators[backend]
    with pytest.raises(ConstraintError) as info:
        gen.prepare(MALFORMED[case]())
    assert not isinstance(info.value, UnsupportedConstraintError)  # the input's fault, whatever the backend
    _assert_helpful(info.value)


@pytest.mark.parametrize("backend", MODELS)
@pytest.mark.parametrize("case", TOO_BIG)
def test_structure_longer_than_the_sequence_is_refused(generators, backend: str, case: str) -> None:
    gen = generators[backend]
    assert gen.model.config.seq_len - 2 < TOO_LONG
    with pytest.raises(ConstraintError) as info:
        gen.prepare(TOO_BIG[case]())
    _assert_helpful(info.value)
    assert not isinstance(info.value, UnsupportedConstraintError)  # refused for its length, on every backend
    assert "seq_len" in info.value.message


@pytest.mark.parametrize("backend", MODELS)
def test_a_fitting_structure_is_not_refused_for_its_length(generators, backend: str) -> None:
    """The control case: 46 tags fit seq_len 48, so an error here is about the kind or a missing classifier
    (typed, with a hint), never the length."""
    gen = generators[backend]
    fits = POS(["NOUN"] * (gen.model.config.seq_len - 2))
    try:
        gen.prepare(fits)
    except CtrlgenError as e:
        assert "seq_len" not in e.message and e.hint
