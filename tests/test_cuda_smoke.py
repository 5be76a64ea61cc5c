"""CUDA smoke test (issue 15 item 4): a tiny generate of each bundled backend on the GPU, networks and sampling
generator on the device. Skipped, with the reason, on a machine without CUDA."""

from __future__ import annotations

import pytest
import torch

import ctrlgen
from ctrlgen.core.contract import Generator
from ctrlgen.core.options import Options

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device (torch.cuda.is_available() "
                                "is False): the GPU smoke test runs only on a machine with one")

CALLS = {"e2e": {"n": 2, "steps": 10}, "e2e-sedd": {"n": 2, "steps": 10}, "e2e-edit": {"n": 2, "steps": 2, "drafts": 4}}


@pytest.mark.parametrize("dtype", [None, "bfloat16"])
@pytest.mark.parametrize("name", sorted(CALLS))
def test_generate_on_cuda(name, dtype):
    gen = ctrlgen.load(name, device="cuda", dtype=dtype)
    devices = {p.device.type for m in gen.modules().values() for p in m.parameters()}
    assert devices == {"cuda"}
    assert Generator.rng(Options(seed=3), torch.device("cuda")).device.type == "cuda"
    out = gen.generate(seed=3, **CALLS[name])
    assert len(out.texts) == 2 and all(out.report["well_formed"]), out.texts
    again = gen.generate(seed=3, **CALLS[name])
    assert again.texts == out.texts  # same seed, same device → same texts
