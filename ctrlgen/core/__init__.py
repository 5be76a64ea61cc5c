"""The contract every backend implements (:mod:`.contract`), the one validated options object (:mod:`.options`),
the output and its one report builder (:mod:`.output`) and MBR ordering (:mod:`.mbr`). The backend registry is
:data:`ctrlgen.registry.BACKENDS` (a floor module, so that constraints can read a backend's faces)."""
