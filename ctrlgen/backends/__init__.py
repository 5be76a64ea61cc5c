"""One folder per backend, each behind the contract of :mod:`ctrlgen.core.contract` and declared once by a
:class:`~ctrlgen.registry.BackendSpec` in its ``__init__.py``: ``embedding`` (Diffusion-LM), ``discrete`` (SEDD),
``edit`` (DiffusER). A backend never imports another backend (an import-linter contract in the tests)."""
