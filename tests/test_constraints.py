"""The backend-neutral constraint language: hard specs, composition, conflicts, capabilities, checks.

Positions count from [START] = 0, so word k sits at position k; a text of n words has [END] at n + 1.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from ctrlgen.constraints.base import (
    Constraint,
    ConstraintError,
    HardSpec,
    OutOfVocabularyError,
    UnsupportedConstraintError,
    get_backend,
)
from ctrlgen.constraints.composition import AllOf, Weighted, as_constraint, prepare
from ctrlgen.constraints.infill import FixedTokens, Infill, Prefix, Suffix
from ctrlgen.constraints.length import Length
from ctrlgen.constraints.specs import CONSTRAINTS, parse_constraint
from ctrlgen.errors import ConfigError, ConstraintConflictError, CtrlgenError
from ctrlgen.registry import CHECK, HARD, SOFT_TOKEN, RegistryError
from ctrlgen.text.tokenizer import Tokenizer

L = 16
VAULTS = "The Vaults is a [MASK:3] pub near [MASK] ."


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer.train(["The Vaults is a cheap pub near Café Adriatic .",
                            "The Eagle is a family friendly coffee shop by the river .",
                            "Near the river , there is a pub called The Wrestlers ."], min_count=1)


def ids(tok: Tokenizer, words: str) -> list[int]:
    return [tok.vocab.id(w) for w in words.split()]


def pads(start: int) -> dict[int, int]:
    return {p: 0 for p in range(start, L)}  # PAD = 0


# ------------------------------------------------------------------------------------- hard specs
def test_length_hard_spec(tok):
    spec = Length(5).hard(tok, L)
    assert spec.positions == {6: 2, **pads(7)}  # END = 2 at n + 1
    assert spec.free_positions == [1, 2, 3, 4, 5]
    mask, values = spec.to_tensors()
    assert mask.dtype == torch.bool and values.dtype == torch.long and mask.shape == values.shape == (L,)
    assert mask.tolist() == [False] * 6 + [True] * (L - 6)
    assert values[6].item() == 2 and values[7:].eq(0).all()
    assert Length(14).hard(tok, L).positions == {15: 2}  # exactly fills the window: no PAD
    with pytest.raises(ConstraintError, match="seq_len is 16"):
        Length(15).hard(tok, L)


def test_infill_hard_spec(tok):
    spec = Infill(VAULTS).hard(tok, L)
    the, vaults, is_, a, pub, near, dot = ids(tok, "The Vaults is a pub near .")
    assert spec.positions == {1: the, 2: vaults, 3: is_, 4: a, 8: pub, 9: near, 11: dot, 12: 2, **pads(13)}
    assert spec.free_positions == [5, 6, 7, 10]  # the holes
    assert spec.unk_words == {}


def test_prefix_and_suffix_hard_specs(tok):
    the, vaults = ids(tok, "The Vaults")
    assert Prefix("The Vaults").hard(tok, L).positions == {1: the, 2: vaults}  # the end stays free
    assert Prefix("The [MASK] is").hard(tok, L).positions == {1: the, 3: tok.vocab.id("is")}
    # Suffix: m words end at word `length`, then [END]: "pub near [MASK] ." with length 8 → positions 5..8.
    pub, near, dot = ids(tok, "pub near .")
    assert Suffix("pub near [MASK] .", length=8).hard(tok, L).positions == {5: pub, 6: near, 8: dot, 9: 2, **pads(10)}
    assert Suffix("pub .", length=2).hard(tok, L).positions == {1: pub, 2: dot, 3: 2, **pads(4)}
    with pytest.raises(ConstraintError, match="length must be an int >= 2"):
        Suffix("pub .", length=1)
    with pytest.raises(TypeError):
        Suffix("pub .")  # type: ignore[call-arg]  # the length is required: positions count from START


def test_fixed_tokens(tok):
    pub = tok.vocab.id("pub")
    assert FixedTokens({3: "pub"}).hard(tok, L).positions == {3: pub}
    assert FixedTokens({3: "pub", 5: "[END]"}).hard(tok, L).positions == {3: pub, 5: 2, **pads(6)}
    assert FixedTokens({3: "pub", 5: "[END]"}).hard(tok, L).positions == Length(4).hard(tok, L).positions | {3: pub}
    for bad in ({0: "The"}, {2: "[MASK]"}, {}, {3: "[END]", 5: "pub"}, {3: "[PAD]", 5: "[END]"}, {2: "[END]", 4: "[END]"}):
        with pytest.raises(ConstraintError):
            FixedTokens(bad)


def test_project_overwrites_only_fixed_positions(tok):
    spec = Infill(VAULTS).hard(tok, L)
    x = torch.randint(5, len(tok), (3, L), generator=torch.Generator().manual_seed(0))
    y = spec.project(x)
    mask, values = spec.to_tensors()
    assert torch.equal(y[:, mask], values[mask].expand(3, -1))
    assert torch.equal(y[:, ~mask], x[:, ~mask])


def test_holes_longer_than_seq_len_raise(tok):
    with pytest.raises(ConstraintError, match="needs 24 positions .* seq_len is 16") as e:
        Infill("The [MASK:20] .").hard(tok, L)
    assert isinstance(e.value, ConfigError) and e.value.hint
    with pytest.raises(ConstraintError, match="seq_len"):
        Infill("The [MASK:1000000000] .").prepare(tok, L, "discrete")  # no giant list is built
    with pytest.raises(ConstraintError, match="seq_len"):
        Prefix("The Vaults is a cheap pub near Café Adriatic . The Eagle is a pub .").hard(tok, L)


@pytest.mark.parametrize("template", ["The [MASK:0] pub", "The [MASK:x] pub", "The [MASK pub", "The pub .", ""])
def test_bad_templates_raise(template):
    with pytest.raises(ConstraintError):
        Infill(template)


# ------------------------------------------------------------------------------- out of vocabulary
def test_oov_refused_by_default_naming_the_word(tok):
    with pytest.raises(OutOfVocabularyError, match="'Zanzibar'") as e:
        Infill("The Zanzibar is a [MASK] pub .").hard(tok, L)
    assert e.value.words == ["Zanzibar"] and "allow_unk=True" in e.value.hint
    with pytest.raises(OutOfVocabularyError, match="'vaults'") as e:  # a near miss is suggested
        Prefix("The vaults").prepare(tok, L, "discrete")
    assert "'Vaults'" in e.value.hint


def test_oov_allowed_maps_to_unk_with_warning(tok, caplog):
    with caplog.at_level(logging.WARNING, logger="ctrlgen.constraints"):
        spec = Infill("The Zanzibar is a [MASK] pub .", allow_unk=True).hard(tok, L)
    assert spec.positions[2] == tok.vocab.unk_id and spec.unk_words == {2: "Zanzibar"}
    assert "Zanzibar" in caplog.text
    assert parse_constraint("prefix=The Zanzibar;allow_unk=true").hard(tok, L).unk_words == {2: "Zanzibar"}


# ------------------------------------------------------------------------------------ composition
def test_compatible_constraints_merge(tok):
    p = (Prefix("The Vaults") & Infill(VAULTS) & Length(11)).prepare(tok, L, "discrete")
    assert p.hard is not None and p.hard.positions == Infill(VAULTS).hard(tok, L).positions
    p = prepare(Prefix("The") & Suffix("pub .", length=5) & FixedTokens({3: "is"}), tok, L, "embedding")
    assert p.hard.positions == {1: tok.vocab.id("The"), 3: tok.vocab.id("is"), 4: tok.vocab.id("pub"),
                                5: tok.vocab.id("."), 6: 2, **pads(7)}
    assert p.hard.free_positions == [2]
    assert len(p.terms) == 3 and all(t.faces == {HARD} for t in p.terms)


def test_conflicting_words_raise_naming_both(tok):
    a, b = Prefix("The Eagle"), Infill(VAULTS)
    with pytest.raises(ConstraintConflictError) as e:
        (a & b).prepare(tok, L, "discrete")
    assert repr(a) in str(e.value) and repr(b) in str(e.value) and "position 2" in str(e.value)
    assert isinstance(e.value, CtrlgenError) and e.value.hint


@pytest.mark.parametrize("n", [3, 10, 12])
def test_length_disagreeing_with_infill_raises(tok, n):
    with pytest.raises(ConstraintConflictError) as e:
        prepare([Length(n), Infill(VAULTS)], tok, L, "embedding")
    assert f"Length({n})" in str(e.value) and repr(Infill(VAULTS)) in str(e.value)


def test_length_shorter_than_prefix_raises(tok):
    with pytest.raises(ConstraintConflictError, match=r"Length\(2\) ends the text after 2 words, shorter than "
                                                      r"the fixed words of Prefix\('The Vaults is'\)"):
        (Length(2) & Prefix("The Vaults is")).prepare(tok, L, "discrete")
    (Length(3) & Prefix("The Vaults is")).prepare(tok, L, "discrete")  # exactly as long: fine


def test_suffix_length_conflicts_with_length(tok):
    with pytest.raises(ConstraintConflictError, match="after 6 words"):
        (Suffix("pub .", length=6) & Length(5)).prepare(tok, L, "discrete")


def test_weights_and_flattening():
    a, b, c = Length(3), Prefix("The"), Length(4, tolerance=1)
    w = 2.0 * c
    assert isinstance(w, Weighted) and w.weight == 2.0 and list(w.leaves()) == [(2.0, c)]
    assert c * 2 == w and list((2 * (3 * c)).leaves()) == [(6.0, c)]
    assert list((2.0 * (a & 3.0 * b)).leaves()) == [(2.0, a), (6.0, b)]
    assert (a & (b & c)).constraints == (a, b, c)
    assert repr(2.0 * (a & b)) == "2 * (Length(3) & Prefix('The'))"
    assert repr(c) == "Length(4, tolerance=1)"
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigError):
            bad * a
    with pytest.raises(TypeError):
        "x" * a  # type: ignore[operator]


def test_lists_accepted_anywhere(tok):
    a, b, c = Length(3), Prefix("The"), FixedTokens({2: "Vaults"})
    assert as_constraint([a, [b, c]]) == AllOf(a, b, c) == a & [b, c] == [a, b] & c
    assert as_constraint((a,)) == AllOf(a) and as_constraint(a) is a
    assert as_constraint(None) == AllOf() == as_constraint([])
    assert as_constraint("length=3") == a and as_constraint(["length=3", b]) == AllOf(a, b)
    p = prepare([a, b, c], tok, L, "discrete")
    assert p.hard.positions == {1: tok.vocab.id("The"), 2: tok.vocab.id("Vaults"), 4: 2, **pads(5)}
    assert prepare(None, tok, L, "discrete").hard is None
    with pytest.raises(ConfigError):
        as_constraint(3)  # type: ignore[arg-type]


def test_constraints_are_values():
    assert Length(3) == Length(3) != Length(4)
    assert len({Infill(VAULTS), Infill(VAULTS), FixedTokens({3: "pub"}), FixedTokens({3: "pub"})}) == 2


# ------------------------------------------------------------------------------------ capabilities
class TokenClassifierOnly(Constraint):
    """A soft-only constraint reading token probabilities: usable by "discrete" only."""

    faces = frozenset({SOFT_TOKEN})

    def soft(self, tokenizer, seq_len, backend):
        return lambda state, t: -state.sum(dim=(1, 2))

    def __repr__(self) -> str:
        return "TokenClassifierOnly()"


class CheckOnly(Constraint):
    faces = frozenset({CHECK})

    def satisfied(self, texts):
        return ["pub" in t for t in texts]


def test_no_usable_face_raises_at_prepare_with_hint(tok):
    with pytest.raises(UnsupportedConstraintError, match="'embedding'") as e:
        (Length(3) & TokenClassifierOnly()).prepare(tok, L, "embedding")
    assert "TokenClassifierOnly()" in str(e.value) and "'discrete'" in e.value.hint
    assert isinstance(e.value, ConfigError)
    p = (Length(3) & 2.0 * TokenClassifierOnly()).prepare(tok, L, "discrete")
    assert [(t.weight, t.faces) for t in p.soft_terms] == [(2.0, {SOFT_TOKEN})]
    with pytest.raises(UnsupportedConstraintError) as e:
        CheckOnly().prepare(tok, L, "discrete")
    assert "'edit'" in e.value.hint
    assert CheckOnly().prepare(tok, L, "edit").terms[0].faces == {CHECK}
    assert CheckOnly().prepare(tok, L, get_backend("discrete").with_faces(CHECK)).hard is None  # reranking


def test_unknown_backend_lists_the_known_ones(tok):
    with pytest.raises(RegistryError, match="discrete"):
        Length(3).prepare(tok, L, "discreet")


# ------------------------------------------------------------------------------------- check face
def test_check_faces():
    texts = ["The Vaults is a cheap family friendly pub near Café Adriatic .", "The Vaults is a pub ."]  # 12, 6 words
    assert Infill("The Vaults is a [MASK:3] pub near [MASK:2] .").satisfied(texts) == [True, False]
    assert Length(12).satisfied(texts) == [True, False] and Length(6, tolerance=1).satisfied(texts) == [False, True]
    assert Length(5).score(texts) == [pytest.approx(1 / 8), 0.5]
    assert Prefix("The Vaults is").satisfied(texts) == [True, True]
    assert Suffix("pub .", length=6).satisfied(texts) == [False, True]
    assert FixedTokens({5: "pub", 8: "[PAD]"}).satisfied(texts) == [False, True]
    assert Infill("The Eagle [MASK] a pub .").score(texts[1:]) == [pytest.approx(5 / 6)]  # 4 of 5 words + length
    assert (Prefix("The") & Length(6)).satisfied(texts) == [False, True]
    with pytest.raises(ConfigError, match="list"):
        Length(5).satisfied("The Vaults is a pub .")


def test_prepared_check_reports_each_leaf(tok):
    p = (Prefix("The") & 3.0 * Length(6)).prepare(tok, L, "discrete")
    report = p.check(["The Vaults is a pub .", "The pub ."])
    assert [(repr(r.constraint), r.weight, r.satisfied) for r in report] == [
        ("Prefix('The')", 1.0, [True, True]), ("Length(6)", 3.0, [True, False])]
    assert p.satisfied(["The Vaults is a pub .", "The pub ."]) == [True, False]
    assert p.score(["The pub ."]) == [pytest.approx((1.0 + 3.0 * 0.25) / 4)]


# --------------------------------------------------------------------------------------- specs
def test_specs():
    assert parse_constraint("length=14") == Length(14)
    assert parse_constraint("length=14;tolerance=2") == Length(14, tolerance=2)
    assert parse_constraint(f"infill={VAULTS}") == Infill(VAULTS)
    assert parse_constraint("suffix=near the river .;length=12") == Suffix("near the river .", length=12)
    assert set(CONSTRAINTS) >= {"length", "infill", "prefix", "suffix"}
    with pytest.raises(RegistryError, match="did you mean 'length'"):
        parse_constraint("lenght=3")
    for bad in ("length", "length=x", "length=3;foo=1", "suffix=pub .", "length=3;tolerance"):
        with pytest.raises(ConfigError):
            parse_constraint(bad)


def test_hardspec_rejects_out_of_range_positions():
    with pytest.raises(ConstraintError):
        HardSpec(4, {4: 2})


# ------------------------------------------------------------------------------------- import structure
def _imports(path: Path) -> Iterator[tuple[ast.stmt, bool, str]]:
    """``(import node, inside a def, its source line)`` for every import of a module."""
    lines = path.read_text().splitlines()

    def walk(node: ast.AST, in_def: bool) -> Iterator[tuple[ast.stmt, bool, str]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                yield child, in_def, lines[child.lineno - 1]
            else:
                yield from walk(child, in_def or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef))

    yield from walk(ast.parse("\n".join(lines)), False)


def test_constraints_and_oracles_import_one_way():
    """No function-local import of ctrlgen in constraints/ or oracles/ (the cycle it hid is gone); lazy imports of
    slow third-party packages are marked ``# lazy: start-up speed``; oracles import only models, text and the
    floor; constraints never import the layers above them."""
    root = Path(__file__).resolve().parents[1] / "ctrlgen"
    allowed = {"oracles": ("ctrlgen.oracles", "ctrlgen.models", "ctrlgen.text", "ctrlgen.errors", "ctrlgen.registry",
                           "ctrlgen.config", "ctrlgen.version"),
               "constraints": ("ctrlgen.constraints", "ctrlgen.oracles", "ctrlgen.models", "ctrlgen.text",
                               "ctrlgen.errors", "ctrlgen.registry", "ctrlgen.config", "ctrlgen.version")}
    lazy = 0
    for package, ok in allowed.items():
        for path in sorted((root / package).glob("*.py")):
            for node, in_def, line in _imports(path):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for mod in mods:
                    if mod.startswith("ctrlgen"):
                        assert not in_def, f"{path.name}: function-local import of {mod}"
                        assert mod.startswith(ok), f"{path.name} imports {mod} (a layer above {package}/)"
                    elif in_def:
                        lazy += 1
                        assert line.rstrip().endswith("# lazy: start-up speed"), f"{path.name}: unmarked {line.strip()}"
    assert lazy <= 10  # spaCy, benepar, nltk, sacrebleu, rouge-score only
