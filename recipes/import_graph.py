"""Measure the package's import graph: module-level cycles, all-import cycles, function-local imports.

```bash
python recipes/import_graph.py --out recipes/results/import_graph.json
```

Reads the source with ``ast`` (nothing is imported). A *module-level* import runs when the module is
imported (top level, or inside ``if``/``try`` at top level, excluding ``if TYPE_CHECKING:``); a
*function-local* import sits inside a ``def``. Cycles are the strongly connected components (size > 1)
of the module graph, one graph with module-level imports only and one with every import.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def resolve(node: ast.ImportFrom | ast.Import, mod: str, is_pkg: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = mod if is_pkg else mod.rpartition(".")[0]
    if node.level:
        for _ in range(node.level - 1):
            base = base.rpartition(".")[0]
        target = f"{base}.{node.module}" if node.module else base
    else:
        target = node.module or ""
    return [target] + [f"{target}.{a.name}" for a in node.names]


def scan(root: Path) -> tuple[dict[str, set[str]], dict[str, set[str]], list[tuple[str, int, str]]]:
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    top: dict[str, set[str]] = {m: set() for m in files}
    every: dict[str, set[str]] = {m: set() for m in files}
    local: list[tuple[str, int, str]] = []

    def known(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    for mod, path in files.items():
        tree = ast.parse(path.read_text())
        is_pkg = path.name == "__init__.py"

        def visit(node: ast.AST, in_def: bool, in_tc: bool) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    names = resolve(child, mod, is_pkg)
                    if isinstance(child, ast.ImportFrom):  # ``from pkg import a``: the submodule pkg.a if it is one
                        names = [t for t in names[1:] if t in files] + ([names[0]] if any(
                            t not in files for t in names[1:]) else [])
                    targets = {k for t in names if (k := known(t)) and k != mod}
                    every[mod] |= targets
                    if in_def and targets:
                        local.append((mod, child.lineno, ", ".join(sorted(targets))))
                    elif not in_def and not in_tc:
                        top[mod] |= targets
                    continue
                tc = isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test)
                visit(child, in_def or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)),
                      in_tc or tc)

        visit(tree, False, False)
    return top, every, local


def sccs(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of size > 1 (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in graph:
                    continue
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


#: The layers of DESIGN.md / pyproject's import-linter contract, top first (a module belongs to the first prefix
#: it matches; the package root ``ctrlgen`` is the public facade above everything).
LAYERS = ("ctrlgen.cli", "ctrlgen.evaluation", "ctrlgen.api", "ctrlgen.training", "ctrlgen.backends", "ctrlgen.core",
          "ctrlgen.constraints", "ctrlgen.oracles", "ctrlgen.models", "ctrlgen.text",
          "ctrlgen.registry|ctrlgen.config", "ctrlgen.errors|ctrlgen.version")


def layer(mod: str) -> int | None:
    if mod == "ctrlgen":
        return -1
    for i, names in enumerate(LAYERS):
        if any(mod == n or mod.startswith(n + ".") for n in names.split("|")):
            return i
    return None


def upward(graph: dict[str, set[str]], rename: dict[str, str]) -> list[tuple[str, str]]:
    """Import edges that go up the layers (or between two backends), after renaming old modules to their new
    homes (``rename``: old module → new module) so that an old tree is judged by the new layout."""
    def new(m: str) -> str:
        best = max((k for k in rename if m == k or m.startswith(k + ".")), key=len, default=None)
        return rename[best] + m[len(best):] if best else m

    out = []
    for src, dsts in graph.items():
        for dst in dsts:
            a, b = new(src), new(dst)
            la, lb = layer(a), layer(b)
            if la is None or lb is None:
                continue
            other_backend = (la == lb == LAYERS.index("ctrlgen.backends")
                             and a.split(".")[2:3] != b.split(".")[2:3] and len(a.split(".")) > 2 and len(b.split(".")) > 2)
            if lb < la or other_backend:
                out.append((src, dst))
    return sorted(out)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--package", default=str(Path(__file__).resolve().parents[1] / "ctrlgen"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--list-local", action="store_true", help="print every function-local import")
    ap.add_argument("--rename", default=None, help="JSON file: old module -> new module, to judge an old tree's "
                    "arrows by the new layers (recipes/results/issue12_module_moves.json)")
    args = ap.parse_args(argv)
    top, every, local = scan(Path(args.package))
    res = {"modules": len(top), "module_level_cycles": sccs(top), "all_import_cycles": sccs(every),
           "function_local_imports_of_ctrlgen": len(local)}
    rename = json.loads(Path(args.rename).read_text()) if args.rename else {}
    res["upward_imports"] = [list(e) for e in upward(every, rename)]
    res["upward_imports_module_level"] = [list(e) for e in upward(top, rename)]
    print(f"modules {res['modules']}; module-level cycles {len(res['module_level_cycles'])}; "
          f"cycles counting function-local imports {len(res['all_import_cycles'])}; "
          f"function-local imports of ctrlgen modules {len(local)}; upward imports {len(res['upward_imports'])} "
          f"({len(res['upward_imports_module_level'])} at module level)")
    for c in res["all_import_cycles"]:
        print("  cycle:", " ".join(c))
    for a, b in res["upward_imports"]:
        print("  upward:", a, "->", b)
    if args.list_local:
        for m, line, t in local:
            print(f"  {m}:{line} -> {t}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    sys.exit(main() and 0)
