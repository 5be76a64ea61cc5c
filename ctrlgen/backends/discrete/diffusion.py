"""Score-entropy discrete diffusion (SEDD): a graph (:mod:`.graphs`) and a noise schedule (:mod:`.noise`) from one
config, the perturbation and the score-entropy training loss. Math only; the score network is passed in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ctrlgen.backends.discrete.graphs import GRAPHS, Device, Gen, Graph
from ctrlgen.backends.discrete.noise import NOISES, Noise
from ctrlgen.errors import ConfigError


# ---------------------------------------------------------------------------------------------- config
@dataclass
class DiscreteDiffusionConfig:
    graph: str = "absorbing"  # "absorbing" (MASK; what infilling wants) or "uniform" (see GRAPHS)
    noise: str = "loglinear"  # "loglinear" (mask prob (1−eps)·t with absorbing) or "geometric" (see NOISES)
    eps: float = 1e-3  # loglinear: σ̄(1) = −log(eps), so a sliver of tokens survives at t = 1 (SEDD)
    sigma_min: float = 1e-4  # geometric: σ̄(0) (SEDD)
    sigma_max: float = 20.0  # geometric: σ̄(1) (SEDD)
    sampling_eps: float = 1e-3  # smallest t: training draws t ~ U[sampling_eps, 1]; samplers stop and denoise here

    def __post_init__(self) -> None:
        GRAPHS.get(self.graph)  # unknown names raise RegistryError, listing the known ones
        NOISES.get(self.noise).from_config(self)  # ... and the schedule checks its own fields
        if not 0 < self.sampling_eps < 1:
            raise ConfigError(f"sampling_eps must be in (0, 1), got {self.sampling_eps!r}", "1e-3 is the SEDD default")


def make_graph(name: str, vocab_size: int, mask_id: int | None = None) -> Graph:
    """The registered graph ``name``; absorbing graphs need ``mask_id``."""
    cls = GRAPHS.get(name)
    if cls.absorbing:
        if mask_id is None:
            raise ConfigError(f"the {name!r} graph needs a mask_id", "pass tokenizer.vocab.mask_id")
        return cls(vocab_size, mask_id)  # type: ignore[call-arg]
    return cls(vocab_size)  # type: ignore[call-arg]


class DiscreteDiffusion:
    """A graph and a noise schedule: perturbation and the training loss (Σ over positions of σ'(t)·score entropy)."""

    def __init__(self, graph: Graph, noise: Noise, config: DiscreteDiffusionConfig | None = None) -> None:
        self.graph, self.noise = graph, noise
        self.config = config or DiscreteDiffusionConfig()

    @classmethod
    def from_config(cls, config: DiscreteDiffusionConfig, vocab_size: int,
                    mask_id: int | None = None) -> "DiscreteDiffusion":
        return cls(make_graph(config.graph, vocab_size, mask_id), NOISES.get(config.noise).from_config(config), config)

    def sample_t(self, batch: int, generator: Gen, device: Device) -> Tensor:
        """t ~ U[sampling_eps, 1]: ``Tensor[B]``."""
        eps = self.config.sampling_eps
        return eps + (1 - eps) * torch.rand(batch, generator=generator, device=device)

    def training_losses(self, model: Callable[[Tensor, Tensor], Tensor], ids: Tensor,
                        generator: Gen) -> dict[str, Tensor]:
        """DWDSE loss for ``ids: LongTensor[B, L]``; ``model(x_t: LongTensor[B, L], sigma: Tensor[B])`` returns the
        log-score ``Tensor[B, L, N]``. ``loss``: Σ_positions σ'(t)·score entropy, ``Tensor[B]`` (nats per sequence)."""
        t = self.sample_t(ids.shape[0], generator, ids.device)
        sigma, dsigma = self.noise(t)
        x_t = self.graph.sample_transition(ids, sigma, generator)
        entropy = self.graph.score_entropy(model(x_t, sigma), sigma, x_t, ids)
        return {"loss": (dsigma[:, None] * entropy).sum(dim=-1), "score_entropy": entropy.sum(dim=-1)}


class DiscreteObjective(torch.nn.Module):
    """``forward(ids: LongTensor[B, L], generator) -> dict of Tensor[B]``: the trainer's objective for a score
    model (an ``nn.Module`` so DDP can wrap it; its parameters are the model's)."""

    def __init__(self, model: torch.nn.Module, diffusion: DiscreteDiffusion) -> None:
        super().__init__()
        self.model = model
        self.diffusion = diffusion

    def forward(self, ids: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        return self.diffusion.training_losses(self.model, ids, generator)
