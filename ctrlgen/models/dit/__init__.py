"""Architectures of public diffusion LMs built on the DiT of Peebles & Xie, with their own parameter names.

- :mod:`ctrlgen.models.dit.layers` — the pieces SEDD and MDLM share (the same maths and names in both
  references): weight-only LayerNorm, sinusoidal σ embedder, DDiT block with adaLN modulation, final layer,
  the trunk :class:`~ctrlgen.models.dit.layers.DiT`;
- :mod:`ctrlgen.models.dit.rotary` — rotary position embeddings on q and k;
- :mod:`ctrlgen.models.dit.sedd` — ``louaaron/sedd-*`` (score network, ``scale_by_sigma``);
- :mod:`ctrlgen.models.dit.mdlm` — ``kuleshov-group/mdlm-*`` (``backbone.*``, SUBS clean-token log-probs);
- :mod:`ctrlgen.models.dit.checkpoint` — reading a reference directory (config + weights) with
  ``CheckpointError`` naming the field at fault.

Parity with the reference code on tiny random weights: ``tests/test_sedd_parity.py``,
``tests/test_mdlm_parity.py`` (fixtures made by ``recipes/parity_fixtures.py``).
"""
