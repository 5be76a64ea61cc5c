"""Training: the one trainer (:mod:`.trainer`), run configs (:mod:`.run`), classifier training (:mod:`.classifiers`)
and its silver-data cache (:mod:`.classifier_cache`)."""
