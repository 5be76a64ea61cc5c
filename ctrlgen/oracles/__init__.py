"""Oracles on text that constraints' check faces and evaluation use: the POS tagger (:mod:`.pos`), the
constituency parser (:mod:`.parser`), metrics (:mod:`.metrics`), fluency (:mod:`.fluency`), the teacher LM
(:mod:`.teacher`) and the bundle the evaluation harness loads (:mod:`.bundle`). Nothing here imports a backend."""
