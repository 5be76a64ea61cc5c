"""SEDD noise schedules σ̄(t) (log-linear, geometric), registered by name in :data:`NOISES`."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import Tensor

from ctrlgen.errors import ConfigError, SamplingError
from ctrlgen.registry import Registry

NOISES: Registry[type[Noise]] = Registry("noise")


# ---------------------------------------------------------------------------------------------- noises
class Noise(ABC):
    """A noise schedule: ``noise(t) -> (σ̄(t), σ'(t))`` for ``t: Tensor[B]`` in [0, 1], σ̄ = ∫σ'."""

    @abstractmethod
    def total_noise(self, t: Tensor) -> Tensor:
        """σ̄(t): ``Tensor[B]``."""

    @abstractmethod
    def rate_noise(self, t: Tensor) -> Tensor:
        """σ'(t) = dσ̄/dt: ``Tensor[B]``."""

    config_fields: tuple[str, ...] = ()  # the DiscreteDiffusionConfig fields the constructor takes

    @classmethod
    def from_config(cls, config: Any) -> Noise:  # config: a DiscreteDiffusionConfig (its fields are read)
        return cls(**{f: getattr(config, f) for f in cls.config_fields})

    def __call__(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        t = torch.as_tensor(t)
        t = t if t.is_floating_point() else t.to(torch.get_default_dtype())
        if t.device.type == "cpu" and not bool(((t >= 0) & (t <= 1)).all()):
            raise SamplingError(f"t must lie in [0, 1], got values in [{t.min().item()}, {t.max().item()}]",
                                "t is diffusion time: 1 is pure noise, 0 is data")
        return self.total_noise(t), self.rate_noise(t)


@NOISES.register("loglinear")
class LogLinear(Noise):
    """σ̄(t) = −log(1 − (1−eps)·t), σ'(t) = (1−eps)/(1 − (1−eps)·t): with the absorbing graph a token is
    MASK at time t with probability exactly (1−eps)·t. SEDD's default."""

    config_fields = ("eps",)

    def __init__(self, eps: float = 1e-3) -> None:
        if not 0 < eps < 1:
            raise ConfigError(f"eps must be in (0, 1), got {eps!r}", "1e-3 is the SEDD default")
        self.eps = eps

    def total_noise(self, t: Tensor) -> Tensor:
        return -torch.log1p(-(1 - self.eps) * t)

    def rate_noise(self, t: Tensor) -> Tensor:
        return (1 - self.eps) / (1 - (1 - self.eps) * t)


@NOISES.register("geometric")
class Geometric(Noise):
    """σ̄(t) = σmin^(1−t)·σmax^t, σ'(t) = σ̄(t)·log(σmax/σmin)."""

    config_fields = ("sigma_min", "sigma_max")

    def __init__(self, sigma_min: float = 1e-4, sigma_max: float = 20.0) -> None:
        if not 0 < sigma_min < sigma_max:
            raise ConfigError(f"need 0 < sigma_min < sigma_max, got sigma_min={sigma_min!r}, sigma_max={sigma_max!r}",
                              "SEDD uses sigma_min=1e-4, sigma_max=20")
        self.sigma_min, self.sigma_max = sigma_min, sigma_max

    def total_noise(self, t: Tensor) -> Tensor:
        return self.sigma_min ** (1 - t) * self.sigma_max ** t

    def rate_noise(self, t: Tensor) -> Tensor:
        return self.total_noise(t) * math.log(self.sigma_max / self.sigma_min)
