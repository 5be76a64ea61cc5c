"""Methods of an evaluation table: what turns control targets into texts.

A method gets the run's targets and a :class:`SampleContext` (the loaded generator, ``n`` samples
per target, ``steps``, ``seed``, …) and returns, **for each target, a list of texts**. The harness
scores them; a method never scores.

Built in:

- ``no-control``: unguided samples from the model (``n`` per target, drawn in one batched call; the
  baseline row of every table).
- ``reference``: the held-out sentence each target was built from (its ``words_`` / ``reference``),
  one per target; for semantic targets, up to ``n`` references whose meaning representation has that
  field value (``SampleContext.references``, e.g. ``valid.csv``). A sanity check of oracles and
  metrics: POS match, tree F1 and span success near 100.
- ``hard``: hard constraints only (no classifier guidance), for the tasks that have one: an infill
  case becomes ``Infill(template, allow_unk=True)``, a length target ``Length(n)``.

**Adding a method** (e.g. the control issue's ``guided``): subclass :class:`PerTargetMethod` (one
generator call per target, seeds ``seed + k`` for target ``k``) or :class:`Method` (all targets at
once) and register the class; ``--methods guided`` then finds it::

    from ctrlgen.evaluation.methods import METHODS, PerTargetMethod, spaced_texts

    @METHODS.register("guided")
    class Guided(PerTargetMethod):
        tasks = frozenset({"semantic", "pos", "tree", "spans", "length"})   # None: every task

        def sample_one(self, target, ctx, seed):
            c = constraints_for(target)                   # target → constraint objects
            out = ctx.gen.generate(n=ctx.n, steps=ctx.steps, seed=seed, constraints=c,
                                   batch_size=ctx.batch_size)
            return spaced_texts(out, ctx.gen.tokenizer)     # words as sampled (see spaced_texts)

The module that registers it must be imported before the run (add the import at the end of this
file for a built-in method).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ctrlgen.constraints.infill import Infill
from ctrlgen.constraints.length import Length
from ctrlgen.errors import ConfigError, DataError
from ctrlgen.evaluation.targets import InfillCase, LengthTarget, SemanticTarget
from ctrlgen.registry import Registry
from ctrlgen.text.e2e import E2EExample

if TYPE_CHECKING:
    from ctrlgen.backends.embedding.generator import EmbeddingGenerator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SampleContext:
    """What a method may use. ``gen`` is ``None`` only when no method of the run needs a model."""

    task: str
    gen: EmbeddingGenerator | None
    n: int = 4  # samples per target
    steps: int = 200  # denoising steps
    seed: int = 0
    batch_size: int = 64
    progress: bool = False  # tqdm bars (the CLI switches them on only when stderr is a terminal)
    references: Sequence[E2EExample] = ()  # held-out rows (MR + reference) the targets came from


class Method(ABC):
    """Targets → texts. ``needs_model``: whether ``ctx.gen`` must be loaded; ``tasks``: the tasks it
    can run (``None``: all)."""

    name: ClassVar[str] = ""
    needs_model: ClassVar[bool] = True
    tasks: ClassVar[frozenset[str] | None] = None

    def supports(self, task: str) -> bool:
        return self.tasks is None or task in self.tasks

    def check(self, targets: Sequence[Any], ctx: SampleContext) -> None:
        """Raise (with a hint) if the method cannot run on these targets; called before any sampling."""

    @abstractmethod
    def sample(self, targets: Sequence[Any], ctx: SampleContext) -> list[list[str]]:
        """One list of texts per target, in the order of ``targets``."""


class PerTargetMethod(Method):
    """A method that calls the generator once per target, with seed ``ctx.seed + k`` for target ``k``."""

    def sample(self, targets: Sequence[Any], ctx: SampleContext) -> list[list[str]]:
        from tqdm.auto import tqdm

        return [list(self.sample_one(t, ctx, ctx.seed + k))
                for k, t in enumerate(tqdm(targets, desc=self.name or "targets", disable=not ctx.progress))]

    @abstractmethod
    def sample_one(self, target: Any, ctx: SampleContext, seed: int) -> list[str]:
        """``ctx.n`` texts for one target."""


METHODS: Registry[type[Method]] = Registry("evaluation method", builtin=("ctrlgen.evaluation.guided",))  # "guided" registers there


def get_method(name: str) -> Method:
    """A fresh instance of the registered method ``name`` (the error lists the registered ones)."""
    cls = METHODS.get(name)
    return cls()


def spaced_texts(out: Any, tokenizer: Any) -> list[str]:
    """The words of each sample in ``out.tokens: Tensor[n, L]`` (START … first END, PAD dropped) joined by
    single spaces. Methods return these rather than ``out.texts``: the detokeniser glues some words
    (``£`` ``30`` → ``£30``, and after a wrong neighbour ``price30``), and re-splitting glued text would
    score words the model never produced; :func:`~ctrlgen.text.split_words` gives the words back exactly."""
    v = tokenizer.vocab
    texts = []
    for row in out.tokens.tolist():
        words = []
        for i in row:
            if i == v.end_id:
                break
            if i not in (v.pad_id, v.start_id):
                words.append(v.word(i))
        texts.append(" ".join(words))
    return texts


def _need_gen(ctx: SampleContext) -> EmbeddingGenerator:
    if ctx.gen is None:
        raise ConfigError("this method needs a loaded model", hint="pass gen= (ctrlgen.load('e2e'))")
    return ctx.gen


@METHODS.register("no-control")
class NoControl(Method):
    """Unguided samples: ``n × len(targets)`` texts in one batched call with ``ctx.seed``, ``n`` per target."""

    name = "no-control"

    def sample(self, targets: Sequence[Any], ctx: SampleContext) -> list[list[str]]:
        gen = _need_gen(ctx)
        out = gen.generate(n=ctx.n * len(targets), steps=ctx.steps, seed=ctx.seed, batch_size=ctx.batch_size,
                           progress=ctx.progress)
        texts = spaced_texts(out, gen.tokenizer)
        return [texts[k * ctx.n:(k + 1) * ctx.n] for k in range(len(targets))]


@METHODS.register("reference")
class Reference(Method):
    """The held-out sentences the targets were built from (see the module doc)."""

    name = "reference"
    needs_model = False

    def check(self, targets: Sequence[Any], ctx: SampleContext) -> None:
        for t in targets:
            self._texts(t, ctx)

    def sample(self, targets: Sequence[Any], ctx: SampleContext) -> list[list[str]]:
        return [self._texts(t, ctx) for t in targets]

    def _texts(self, target: Any, ctx: SampleContext) -> list[str]:
        if isinstance(target, InfillCase):
            return [target.reference]
        if isinstance(target, SemanticTarget):
            refs = list(dict.fromkeys(e.ref for e in ctx.references if e.mr.get(target.field) == target.value))
            if not refs:
                raise DataError(f"no reference sentence has {target.field}[{target.value}]",
                                hint="the reference method needs the CSV the semantic targets came from: "
                                     "pass --from valid.csv (references= in Python)")
            return refs[:ctx.n]
        words = getattr(target, "words", ())
        if not words:
            raise DataError(f"target {target!r} carries no source sentence ('words_')",
                            hint="the reference method needs targets built from sentences (ctrlgen build-targets)")
        return [" ".join(words)]


@METHODS.register("hard")
class Hard(PerTargetMethod):
    """Hard constraints only: ``Infill(template, allow_unk=True)`` for infill, ``Length(n)`` for length."""

    name = "hard"
    tasks = frozenset({"infill", "length"})

    def sample_one(self, target: Any, ctx: SampleContext, seed: int) -> list[str]:
        gen = _need_gen(ctx)
        if isinstance(target, InfillCase):
            constraint: Any = Infill(target.template, allow_unk=True)
        elif isinstance(target, LengthTarget):
            constraint = Length(target.length)
        else:
            raise ConfigError(f"the hard method has no constraint for {type(target).__name__}",
                              hint=f"it runs the tasks {', '.join(sorted(self.tasks or ()))}")
        out = gen.generate(n=ctx.n, steps=ctx.steps, seed=seed, constraints=constraint, batch_size=ctx.batch_size)
        return spaced_texts(out, gen.tokenizer)

