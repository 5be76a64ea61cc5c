"""The ``masked`` backend: LLaDA-style masked diffusion — a mask predictor (no time input) sampled by revealing
tokens step by step, with remasking strategies, semi-autoregressive blocks and classifier-free guidance.

Modules: ``llada`` (the network: the LLaDA architecture in a ctrlgen checkpoint), ``diffusion`` (masking process
and loss), ``sampler`` (the LLaDA sampler, remasking registry), ``guidance`` (logit guidance for ``soft:token`` faces), ``generator`` (the
contract), ``training``, ``flags`` (CLI). This file only declares the backend (importing it imports no torch).
"""

from ctrlgen.registry import BACKENDS, HARD, SOFT_TOKEN, BackendSpec

SPEC = BackendSpec(
    name="masked",
    faces=frozenset({HARD, SOFT_TOKEN}),
    description="LLaDA-style masked diffusion: remasking, semi-autoregressive blocks, classifier-free guidance",
    generator="ctrlgen.backends.masked.generator:MaskedGenerator",
    model_types=("llada",),
    default_model="e2e-masked",  # the bundled model (issue 16, item 6): ctrlgen/assets/e2e-masked
    default_steps=48,  # divides by every block count of a 48-position canvas (1, 2, 3, 4, 6, 8, 12, 16, 24, 48)
    operations=frozenset({"generate", "infill"}),
    guidance="the logit-guidance scale γ of soft constraints (0 = unguided); CFG is --cfg-scale",
    models={"llada": "ctrlgen.backends.masked.llada:MaskedLLaDA"},
    training={"masked": "ctrlgen.backends.masked.training"},
    cli="ctrlgen.backends.masked.flags:FLAGS",
)
BACKENDS.register(SPEC.name, SPEC)
