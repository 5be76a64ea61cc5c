"""Evaluation: control tasks (:mod:`.tasks`, :mod:`.composite`), their targets (:mod:`.targets`,
:mod:`.target_builders`, :mod:`.target_files`), the methods that sample for them (:mod:`.methods`, :mod:`.guided`)
and the harness (:mod:`.harness`). This layer sits above the API; nothing in the core imports it. The oracles it
scores with live in :mod:`ctrlgen.oracles`."""
