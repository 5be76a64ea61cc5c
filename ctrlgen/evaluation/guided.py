"""The ``guided`` evaluation method: each target becomes constraint objects, sampled with classifier guidance.

- semantic ``field: value`` → ``SemanticField(field, value)``
- POS tags → ``POS(tags)`` (``with_length=True`` adds ``Length(len(tags))``, a hard END/PAD)
- tree → ``SyntaxTree(tree)``; spans → ``SyntaxSpans(spans)``
- length → ``Length(n)``; infill → ``Infill(template, allow_unk=True)`` (hard faces, as the ``hard`` method)
- composites (:mod:`.composite`) → both parts joined: ``SemanticField(...) & POS(...)``,
  ``SemanticField(...) & SyntaxTree(...)`` (guidance sums the two classifiers' losses)

The classifiers are the ones saved beside the model (``ctrlgen train-classifier``). Every target is
compiled with ``gen.prepare`` in :meth:`Guided.check`, so a missing classifier or a bad target fails
before the first sample. The default :class:`~ctrlgen.GuidanceConfig` per task follows Diffusion-LM's
fluency weights λ (paper Table 6: semantic 0.01, POS 5e-4, tree 5e-4, spans 0.1, length 0.01) with the
backend's default cost knobs (since issue 17: K = 1 sign step of 0.3 over the first 75% of the steps, scaled by
100 / steps beyond 100 steps; ``GuidanceConfig.full(fluency_weight=λ)``: Diffusion-LM's K = 3, step 0.1, 95%); pass
``guidance=`` to override.
A composite task takes its *syntax* part's λ (5e-4 for both): the POS / tree classifier's loss sums
over every position or span and dominates the sum of the two losses, so the balance between control
and the fluency term is the syntax task's; the paper gives no separate λ for its Table 4.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ctrlgen.backends.embedding.guidance import GuidanceConfig
from ctrlgen.constraints.infill import Infill
from ctrlgen.constraints.length import Length
from ctrlgen.constraints.pos import POS
from ctrlgen.constraints.semantic import SemanticField
from ctrlgen.constraints.syntax import SyntaxSpans, SyntaxTree
from ctrlgen.errors import ConfigError
from ctrlgen.evaluation.composite import CompositeTarget
from ctrlgen.evaluation.methods import METHODS, PerTargetMethod, SampleContext, _need_gen, spaced_texts
from ctrlgen.evaluation.targets import InfillCase, LengthTarget, PosTarget, SemanticTarget, SpanTarget, TreeTarget

#: Diffusion-LM's fluency weight λ per task (paper Table 6; composites: their syntax part's, see the module
#: doc); other settings are GuidanceConfig's defaults.
TASK_FLUENCY: dict[str, float] = {"semantic": 0.01, "pos": 5e-4, "tree": 5e-4, "spans": 0.1, "length": 0.01,
                                  "infill": 0.01, "semantic+pos": 5e-4, "semantic+tree": 5e-4}


def constraints_for(target: Any, *, with_length: bool = False) -> Any:
    """A control target (:mod:`.targets`) → the constraint objects that ask for it."""
    if isinstance(target, CompositeTarget):
        return constraints_for(target.semantic) & constraints_for(target.syntax, with_length=with_length)
    if isinstance(target, SemanticTarget):
        return SemanticField(target.field, target.value, steer="classifier")  # the paper's method: classifier guidance
    if isinstance(target, PosTarget):
        return POS(target.tags) & Length(len(target.tags)) if with_length else POS(target.tags)
    if isinstance(target, TreeTarget):
        return SyntaxTree(target.tree)
    if isinstance(target, SpanTarget):
        return SyntaxSpans(target.spans)
    if isinstance(target, LengthTarget):
        return Length(target.length)
    if isinstance(target, InfillCase):
        return Infill(target.template, allow_unk=True)
    raise ConfigError(f"no constraint for a {type(target).__name__} target",
                      hint=f"guided runs {', '.join(TASK_FLUENCY)} targets")


@METHODS.register("guided")
class Guided(PerTargetMethod):
    """Classifier-guided sampling (``guidance=None``: the task's default, see the module doc)."""

    name = "guided"
    tasks = frozenset(TASK_FLUENCY)

    def __init__(self, guidance: GuidanceConfig | None = None, *, name: str | None = None,
                 with_length: bool = False) -> None:
        self.guidance, self.with_length = guidance, with_length
        if name is not None:
            self.name = name

    def config(self, task: str) -> GuidanceConfig:
        return self.guidance or GuidanceConfig(fluency_weight=TASK_FLUENCY.get(task, 0.01))

    def check(self, targets: Sequence[Any], ctx: SampleContext) -> None:
        gen = _need_gen(ctx)
        for t in targets:
            gen.prepare(constraints_for(t, with_length=self.with_length))

    def sample_one(self, target: Any, ctx: SampleContext, seed: int) -> list[str]:
        gen = _need_gen(ctx)
        out = gen.generate(n=ctx.n, steps=ctx.steps, seed=seed, batch_size=ctx.batch_size,
                           constraints=constraints_for(target, with_length=self.with_length),
                           guidance=self.config(ctx.task))
        return spaced_texts(out, gen.tokenizer)
