"""The dependency direction is a test, not a hope (DESIGN.md, "Layout"; issue 12).

- the import-linter contracts in pyproject.toml (layers from ``cli`` down to the floor, backends independent,
  the core never importing ``evaluation``/``cli``, ``classifiers/`` only through the public API) are kept;
- no import cycle between ctrlgen modules, at module level or counting function-local imports;
- no import goes up the layers (by ``recipes/import_graph.py``'s own reading of the source);
- a function-local import of a ctrlgen module exists only where it is listed in :data:`LAZY_IMPORTS` with the
  reason (start-up speed or a plug-in lookup) — nothing needs one to stay importable.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ctrlgen

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(ctrlgen.__file__).parent

#: (importing module, imported module) → why the import is inside a function. The one list of lazy imports of
#: ctrlgen modules; a new one fails this test until it is added here with its reason.
LAZY_IMPORTS: dict[tuple[str, str], str] = {}


def _graph_tool():  # recipes/import_graph.py reads the source with ast; loaded by path (recipes is no package)
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "recipes" / "import_graph.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def scan():
    tool = _graph_tool()
    top, every, local = tool.scan(PACKAGE)
    return tool, top, every, local


def test_import_linter_contracts_kept() -> None:
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.skip("import-linter is not installed (pip install '.[test]')")
    r = subprocess.run([exe, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout


def test_no_import_cycles(scan) -> None:
    tool, top, every, _ = scan
    assert tool.sccs(top) == [], "module-level import cycle"
    assert tool.sccs(every) == [], "import cycle (counting function-local imports)"


def test_no_upward_imports(scan) -> None:
    tool, _, every, _ = scan
    assert tool.upward(every, {}) == []


def test_lazy_imports_are_listed(scan) -> None:
    _, _, _, local = scan
    found = {(m, t) for m, _, targets in local for t in targets.split(", ")}
    unlisted = sorted(found - set(LAZY_IMPORTS))
    assert not unlisted, f"function-local imports of ctrlgen modules not in LAZY_IMPORTS: {unlisted}"
    stale = sorted(set(LAZY_IMPORTS) - found)
    assert not stale, f"LAZY_IMPORTS lists imports that no longer exist: {stale}"


def test_the_detector_sees_a_cycle_and_an_upward_import(tmp_path: Path) -> None:
    """The checks above can fail: a two-module cycle and a core → cli import in a throwaway package."""
    pkg = tmp_path / "ctrlgen"
    (pkg / "core").mkdir(parents=True)
    (pkg / "cli").mkdir()
    for p in (pkg / "__init__.py", pkg / "core" / "__init__.py", pkg / "cli" / "__init__.py"):
        p.write_text("")
    (pkg / "core" / "a.py").write_text("from ctrlgen.core import b\n")
    (pkg / "core" / "b.py").write_text("from ctrlgen.core import a\n\ndef f():\n    from ctrlgen.cli import c\n")
    (pkg / "cli" / "c.py").write_text("")
    tool = _graph_tool()
    top, every, local = tool.scan(pkg)
    assert tool.sccs(top) == [["ctrlgen.core.a", "ctrlgen.core.b"]]
    assert ("ctrlgen.core.b", "ctrlgen.cli.c") in tool.upward(every, {})
    assert [(m, t) for m, _, t in local] == [("ctrlgen.core.b", "ctrlgen.cli.c")]
    assert tool.sccs(every) == [["ctrlgen.core.a", "ctrlgen.core.b"]]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
