"""Built-in classifiers (semantic field, POS, syntax), written only against ctrlgen's public plug-in
interface. Arrive with the constraint/guidance issue; the core finds them through the registry."""
