"""The ``embedding`` backend: Diffusion-LM (Gaussian diffusion on learned word embeddings, x0-prediction, sqrt
schedule, clamping) with classifier-guided gradient updates on the latents.

Modules: ``diffusion`` (forward process + loss), ``model`` (the denoiser), ``sampler`` (the reverse loop),
``guidance`` (gradient guidance), ``generator`` (the contract), ``training`` (``ctrlgen train``), ``flags`` (CLI).
This file only declares the backend (importing it imports no torch).
"""

from ctrlgen.registry import BACKENDS, HARD, SOFT_EMBEDDING, BackendSpec

SPEC = BackendSpec(
    name="embedding",
    faces=frozenset({HARD, SOFT_EMBEDDING}),
    description="Diffusion-LM: Gaussian diffusion on word embeddings, gradient guidance on the latents",
    generator="ctrlgen.backends.embedding.generator:EmbeddingGenerator",
    model_types=("embedding-lm",),
    default_model="e2e",
    default_steps=200,  # from a curve on 400 samples: 100 steps lose fluency (assets/e2e/README.md, issue 17)
    operations=frozenset({"generate", "infill"}),
    guidance="a multiple of the gradient step size (1 = GuidanceConfig().step_size)",
    models={"embedding-lm": "ctrlgen.backends.embedding.model:EmbeddingLM"},
    training={"embedding": "ctrlgen.backends.embedding.training"},
    cli="ctrlgen.backends.embedding.flags:FLAGS",
)
BACKENDS.register(SPEC.name, SPEC)
