"""Documented examples run: the toy backend of docs/architecture.md, as a script in a subprocess."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_architecture_example_backend_runs(tmp_path: Path) -> None:
    code = re.findall(r"```python\n(.*?)```", (DOCS / "architecture.md").read_text(), re.S)[0]
    script = tmp_path / "echo_backend.py"
    script.write_text(code)
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    assert lines[0].endswith(" 3") and "pub is near the river" in lines[0]
    assert "'edit' backend" in lines[1]
