"""The ``edit`` backend: DiffusER edit diffusion — a KEEP/DELETE/REPLACE/INSERT tagger and a generator, edit
corruption, 2D beam search, AR-draft starts and pattern proposals for per-word label constraints.

Modules: ``edits`` / ``corruption`` (alignment and the forward process), ``models`` / ``joint`` /
``ar_generator`` (networks), ``sampler`` / ``loop`` / ``ops`` / ``explore`` / ``types`` (2D beam search),
``start`` / ``guides`` / ``pattern`` (drafts and proposals), ``generator`` (the contract), ``training``,
``flags`` (CLI). This file only declares the backend (importing it imports no torch).
"""

from ctrlgen.registry import BACKENDS, CHECK, HARD, BackendSpec

SPEC = BackendSpec(
    name="edit",
    faces=frozenset({HARD, CHECK}),
    description="DiffusER: edit a text with few changes; beams ranked by the constraints' checks",
    generator="ctrlgen.backends.edit.generator:DiffusERGenerator",
    model_types=("edit-diffuser",),
    default_model="e2e-edit",
    default_steps=12,
    operations=frozenset({"generate", "infill", "edit"}),
    guidance="the weight of the constraints' check scores in the beam ranking (0 = fluency only)",
    models={"edit-diffuser": "ctrlgen.backends.edit.joint:EditModel",
            "edit-tagger": "ctrlgen.backends.edit.models:EditTagger",
            "edit-generator": "ctrlgen.backends.edit.models:EditGenerator",
            "edit-ar-generator": "ctrlgen.backends.edit.ar_generator:EditARGenerator"},
    training={"edit": "ctrlgen.backends.edit.training",
              "edit-ar-generator": "ctrlgen.backends.edit.training:AR_GENERATOR"},
    cli="ctrlgen.backends.edit.flags:FLAGS",
)
BACKENDS.register(SPEC.name, SPEC)
