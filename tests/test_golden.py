"""Replays tests/golden.json (recorded before the backend-contract redesign): same public calls, same outputs.

Each case must give the recorded texts and the recorded report entries; a report may gain new keys (the
redesign adds some), but never change or lose a recorded one. See tests/golden.py to re-record.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from golden import CASES, GOLDEN, run_case

_CACHE: dict[str, Any] = {}
_RECORDED = json.loads(GOLDEN.read_text())


@pytest.mark.parametrize(("name", "model", "method", "kwargs"), CASES, ids=[c[0] for c in CASES])
def test_golden(name: str, model: str, method: str, kwargs: dict[str, Any]) -> None:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # recorded with one thread; reductions can differ in the last bit across thread counts
    try:
        got = run_case(model, method, kwargs, _CACHE)
    finally:
        torch.set_num_threads(threads)
    want = _RECORDED[name]
    if "error" in want:
        assert got == want
        return
    assert got.get("texts") == want["texts"], name
    for key, value in want["report"].items():
        assert got["report"].get(key) == value, f"{name}: report[{key!r}]"
