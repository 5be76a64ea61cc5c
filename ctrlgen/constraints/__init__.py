"""The constraint language: one object, up to three faces (hard, soft, check), any backend.

```python
from ctrlgen.constraints import Infill, Length, Prefix

c = Prefix("The Vaults") & Length(12)                # or [Prefix("The Vaults"), Length(12)], or "length=12"
prepared = c.prepare(tokenizer, seq_len=64, backend="discrete")
prepared.hard.to_tensors()                           # (mask: Tensor[L] bool, values: Tensor[L] long)
prepared.satisfied(["The Vaults is a pub ."])        # check face
```
See :mod:`.base` for faces and backend capabilities, :mod:`.composition` for composition (it also
attaches ``&``, ``*`` and ``prepare`` to :class:`Constraint`, so it is imported here), :mod:`.conflicts` for
conflicts, :mod:`.infill` for templates and the out-of-vocabulary policy, :mod:`.plugin` for the
plug-in classifier contract and :mod:`.classifier` for classifier-backed constraints (:mod:`.semantic`,
:mod:`.pos`, :mod:`.syntax`); :mod:`.contains` for open-vocabulary phrases (classifier-free math in
:mod:`.phrase_math`).
"""

from ctrlgen.constraints.base import (
           Backend,
           Constraint,
           ConstraintError,
           HardSpec,
           OutOfVocabularyError,
           SoftFn,
           UnsupportedConstraintError,
           WordLabelled,
           get_backend,
)
from ctrlgen.constraints.classifier import (
           Classifier,
           ClassifierBacked,
           resolve_classifier,
)
from ctrlgen.constraints.composition import (
           AllOf,
           CheckResult,
           PreparedConstraint,
           Term,
           Weighted,
           all_satisfied,
           as_constraint,
           combined_score,
           prepare,
)
from ctrlgen.constraints.conflicts import check_slots, merge_hard
from ctrlgen.constraints.contains import Contains
from ctrlgen.constraints.fingerprint import ModelContext, ModelFingerprint
from ctrlgen.constraints.infill import (
           FixedTokens,
           Infill,
           Prefix,
           Suffix,
           parse_template,
)
from ctrlgen.constraints.length import Length
from ctrlgen.constraints.plugin import (
           CLASSIFIERS,
           ClassifierData,
           NoiseAwareClassifier,
           load_classifier,
           register_classifier,
)
from ctrlgen.constraints.pos import POS
from ctrlgen.constraints.semantic import SemanticField
from ctrlgen.constraints.specs import CONSTRAINTS, parse_constraint, register_constraint
from ctrlgen.constraints.syntax import SyntaxSpans, SyntaxTree
from ctrlgen.registry import (
           BACKENDS,
           CHECK,
           FACES,
           HARD,
           SOFT_EMBEDDING,
           SOFT_FACES,
           SOFT_TOKEN,
)

__all__ = ["BACKENDS", "CHECK", "CLASSIFIERS", "CONSTRAINTS", "FACES", "HARD", "POS", "SOFT_EMBEDDING", "SOFT_FACES",
           "SOFT_TOKEN", "AllOf", "Backend", "CheckResult", "Classifier", "ClassifierBacked", "ClassifierData",
           "Constraint", "ConstraintError", "Contains", "FixedTokens", "HardSpec", "Infill", "Length", "ModelContext",
           "ModelFingerprint", "NoiseAwareClassifier", "OutOfVocabularyError", "Prefix", "PreparedConstraint",
           "SemanticField", "SoftFn", "Suffix", "SyntaxSpans", "SyntaxTree", "Term", "UnsupportedConstraintError",
           "Weighted", "WordLabelled", "all_satisfied", "as_constraint", "check_slots", "combined_score",
           "get_backend", "load_classifier", "merge_hard", "parse_constraint", "parse_template", "prepare",
           "register_classifier", "register_constraint", "resolve_classifier"]
