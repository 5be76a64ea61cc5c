"""Generators of the non-default backends (``discrete``: SEDD; ``edit``: DiffusER). Each has the facade
``generate(n, steps, seed, constraints, ...)`` / ``infill(template, n, ...)`` → ``GenerationOutput`` of
``ctrlgen.pipeline`` and a ``backend`` name, and is found by ``ctrlgen.load`` through ``GENERATORS``."""
