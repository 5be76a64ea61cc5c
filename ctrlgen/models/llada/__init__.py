"""LLaDA-style masked diffusion LMs (LLaDA-8B layout): ``config.py`` (the reference's config.json fields),
``model.py`` (the architecture, ``LLaDAModel.from_reference``), ``weights.py`` (reading reference weights)."""
