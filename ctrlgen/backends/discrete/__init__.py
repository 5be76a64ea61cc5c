"""The ``discrete`` backend: SEDD score-entropy discrete diffusion (absorbing / uniform graphs) with exact
conditioning of hard faces and rate reweighting for ``soft:token`` faces.

Modules: ``graphs`` (rate matrices, score entropy), ``noise`` (schedules), ``diffusion`` (config, loss), ``model``
(the score model), ``sampler`` (analytic / Euler), ``guidance`` (rate guidance), ``generator`` (the contract),
``training``, ``flags`` (CLI). This file only declares the backend (importing it imports no torch).
"""

from ctrlgen.registry import BACKENDS, HARD, SOFT_TOKEN, BackendSpec

SPEC = BackendSpec(
    name="discrete",
    faces=frozenset({HARD, SOFT_TOKEN}),
    description="SEDD: exact conditioning (infill at any positions), rate reweighting",
    generator="ctrlgen.backends.discrete.generator:DiscreteGenerator",
    model_types=("sedd-score",),
    default_model="e2e-sedd",
    default_steps=128,
    operations=frozenset({"generate", "infill"}),
    guidance="the rate-reweighting scale γ (0 = unguided)",
    models={"sedd-score": "ctrlgen.backends.discrete.model:ScoreModel"},
    training={"discrete": "ctrlgen.backends.discrete.training"},
    cli="ctrlgen.backends.discrete.flags:FLAGS",
)
BACKENDS.register(SPEC.name, SPEC)
