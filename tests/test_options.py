"""Options: every bad value fails up front with a typed error and a hint; budgets refuse absurd runs."""

from __future__ import annotations

import argparse
import math
import time

import pytest
import torch

from ctrlgen.core.options import (
    MAX_BATCH,
    MAX_N,
    MAX_STEPS,
    Options,
    nonnegative_float,
    positive_int,
)
from ctrlgen.errors import ConfigError, SamplingError

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is optional
    given = None

BAD = [
    ({"n": 0}, SamplingError),
    ({"n": -3}, SamplingError),
    ({"n": 2.5}, SamplingError),
    ({"n": True}, SamplingError),
    ({"n": "3"}, SamplingError),
    ({"n": MAX_N + 1}, SamplingError),
    ({"batch_size": 2.5}, SamplingError),
    ({"batch_size": 0}, SamplingError),
    ({"batch_size": MAX_BATCH + 1}, SamplingError),
    ({"seed": "x"}, SamplingError),
    ({"seed": 1.5}, SamplingError),
    ({"seed": 10**23}, SamplingError),
    ({"seed": 99999999999999999999999}, SamplingError),
    ({"seed": -1}, SamplingError),
    ({"seed": 2**63}, SamplingError),
    ({"steps": 0}, SamplingError),
    ({"steps": 1.0}, SamplingError),
    ({"steps": MAX_STEPS + 1}, SamplingError),
    ({"guidance_scale": math.nan}, SamplingError),
    ({"guidance_scale": math.inf}, SamplingError),
    ({"guidance_scale": -1}, SamplingError),
    ({"guidance_scale": "a"}, SamplingError),
    ({"guidance_scale": True}, SamplingError),
    ({"progress": "yes"}, SamplingError),
    ({"return_trajectory": 1}, SamplingError),
    ({"dtype": "int8"}, ConfigError),
    ({"dtype": torch.int64}, ConfigError),
    ({"device": "not-a-device"}, ConfigError),
    ({"device": 3.5}, ConfigError),
    ({"gudiance_scale": 2.0}, SamplingError),  # unknown keyword
]


@pytest.mark.parametrize("kw, err", BAD, ids=[repr(kw) for kw, _ in BAD])
def test_bad_values_raise_typed_error_with_hint(kw: dict, err: type) -> None:
    with pytest.raises(err) as info:
        Options.from_kwargs(**kw)
    assert info.value.hint, "every error must say what to pass instead"


def test_messages_name_the_value_and_limits() -> None:
    with pytest.raises(SamplingError, match=r"n must be a positive integer, got 0") as info:
        Options(n=0)
    assert "n=8" in info.value.hint
    with pytest.raises(SamplingError, match=r"2\*\*63") as info:
        Options(seed=10**23)
    with pytest.raises(SamplingError) as info:
        Options(n=MAX_N + 1)
    assert str(MAX_N) in info.value.hint
    with pytest.raises(ConfigError) as info:
        Options(dtype="int8")
    assert all(d in info.value.hint for d in ("float32", "float16", "bfloat16", "float64"))


def test_unknown_keyword_suggests_the_field() -> None:
    with pytest.raises(SamplingError) as info:
        Options.from_kwargs(gudiance_scale=2.0)
    assert "guidance_scale" in info.value.hint and "did you mean" in info.value.hint


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA path")
def test_cuda_without_cuda_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        Options(device="cuda")
    assert "cpu" in info.value.hint


def test_valid_values_round_trip_and_normalise() -> None:
    o = Options(n=3, steps=7, seed=None, batch_size=2, guidance_scale=0, device="cpu",
                dtype=torch.bfloat16, progress=False, return_trajectory=True)
    assert (o.n, o.steps, o.seed, o.batch_size) == (3, 7, None, 2)
    assert o.guidance_scale == 0.0 and isinstance(o.guidance_scale, float)
    assert o.dtype == "bfloat16" and o.torch_dtype() is torch.bfloat16
    assert o.torch_device() == torch.device("cpu") and o.show_progress() is False
    assert Options.from_kwargs(n=3, seed=5) == Options(n=3, seed=5)
    d = Options()
    assert d.torch_dtype() is torch.float32 and d.torch_device().type == "cpu"
    assert Options(seed=2**63 - 1, n=MAX_N, steps=MAX_STEPS, batch_size=MAX_BATCH).seed == 2**63 - 1


def test_numpy_ints_are_accepted() -> None:
    np = pytest.importorskip("numpy")
    o = Options(n=np.int64(4), seed=np.int32(3), guidance_scale=np.float32(0.5))
    assert type(o.n) is int and type(o.seed) is int and o.n == 4 and o.seed == 3


def test_torch_generator_is_seeded_and_leaves_global_rng_alone() -> None:
    a = torch.rand(3, generator=Options(seed=11).torch_generator())
    b = torch.rand(3, generator=Options(seed=11).torch_generator())
    assert torch.equal(a, b)
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    g = Options(seed=None).torch_generator()
    assert torch.equal(before, torch.random.get_rng_state())
    assert 0 <= g.initial_seed() < 2**62


def test_with_defaults_fills_only_missing_steps() -> None:
    assert Options().with_defaults(steps=200).steps == 200
    assert Options(steps=5).with_defaults(steps=200).steps == 5
    assert Options(n=2).with_defaults(steps=10) == Options(n=2, steps=10)


def test_check_budget_refuses_absurd_run_quickly() -> None:
    o = Options(n=100_000, steps=10_000)
    t0 = time.perf_counter()
    with pytest.raises(SamplingError) as info:
        o.check_budget(cost_per_step_s=0.01, memory_per_sample_bytes=1000, default_steps=100)
    assert time.perf_counter() - t0 < 0.1
    assert "about 115.7 days" in info.value.message and "lower n" in info.value.hint


def test_check_budget_memory_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    o = Options(n=1000, batch_size=1000)
    est = o.estimate(cost_per_step_s=0.001, memory_per_sample_bytes=2**30, default_steps=10)
    assert est == (10.0, 1000 * 2**30)
    with pytest.raises(SamplingError) as info:
        o.check_budget(cost_per_step_s=0.0, memory_per_sample_bytes=41 * 2**20, default_steps=10,
                       max_bytes=2**30)
    assert "about 40 GiB" in info.value.message and "batch_size" in info.value.hint
    o.check_budget(cost_per_step_s=0.001, memory_per_sample_bytes=1, default_steps=10, max_bytes=2**30)
    monkeypatch.setenv("CTRLGEN_MAX_SECONDS", "5")
    with pytest.raises(SamplingError, match="about 10.0 seconds"):
        o.check_budget(cost_per_step_s=0.001, memory_per_sample_bytes=1, default_steps=10)
    monkeypatch.setenv("CTRLGEN_MAX_SECONDS", "soon")
    with pytest.raises(ConfigError):
        o.check_budget(cost_per_step_s=0.001, memory_per_sample_bytes=1, default_steps=10)


def test_show_progress_defaults_to_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeErr:
        def __init__(self, tty: bool) -> None:
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

    monkeypatch.setattr("sys.stderr", FakeErr(True))
    assert Options().show_progress() is True and Options(progress=False).show_progress() is False
    monkeypatch.setattr("sys.stderr", FakeErr(False))
    assert Options().show_progress() is False and Options(progress=True).show_progress() is True


def test_positive_int_and_nonnegative_float() -> None:
    assert positive_int("12") == 12 and nonnegative_float("0") == 0.0
    with pytest.raises(argparse.ArgumentTypeError, match="expected an integer, got 'x'"):
        positive_int("x")
    with pytest.raises(argparse.ArgumentTypeError, match="must be > 0, got 0"):
        positive_int("0")
    for bad in ("nan", "inf", "-1", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            nonnegative_float(bad)
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=positive_int)
    with pytest.raises(SystemExit):
        p.parse_args(["--n", "-2"])


if given is not None:

    @settings(max_examples=100, deadline=None)
    @given(n=st.integers(1, MAX_N), batch=st.integers(1, MAX_BATCH), seed=st.integers(0, 2**63 - 1),
           steps=st.none() | st.integers(1, MAX_STEPS),
           g=st.floats(0, 1e6, allow_nan=False, allow_infinity=False))
    def test_valid_options_round_trip(n: int, batch: int, seed: int, steps: int | None, g: float) -> None:
        o = Options(n=n, batch_size=batch, seed=seed, steps=steps, guidance_scale=g)
        assert (o.n, o.batch_size, o.seed, o.steps, o.guidance_scale) == (n, batch, seed, steps, g)
        assert positive_int(str(n)) == n
