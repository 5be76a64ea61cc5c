"""ctrlgen: controllable text generation and editing with diffusion language models.

```python
import ctrlgen
gen = ctrlgen.load("e2e")          # bundled default Diffusion-LM model, offline
print(gen.generate(n=4, seed=0).texts)
```
"""

from ctrlgen.api import load
from ctrlgen.backends.embedding.generator import EmbeddingGenerator
from ctrlgen.backends.embedding.guidance import GuidanceConfig
from ctrlgen.constraints.base import ConstraintError
from ctrlgen.constraints.classifier import Classifier
from ctrlgen.constraints.fingerprint import ModelContext, ModelFingerprint
from ctrlgen.constraints.infill import FixedTokens, Infill, Prefix, Suffix
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
from ctrlgen.constraints.syntax import SyntaxSpans, SyntaxTree
from ctrlgen.core.output import GenerationOutput
from ctrlgen.errors import (
           CheckpointError,
           ConfigError,
           ConstraintConflictError,
           CtrlgenError,
           DataError,
           MRParseError,
           SamplingError,
)
from ctrlgen.training.classifiers import evaluate_classifier, fit_classifier
from ctrlgen.version import __version__

__all__ = ["CLASSIFIERS", "POS", "CheckpointError", "Classifier", "ClassifierData", "ConfigError",
           "ConstraintConflictError", "ConstraintError", "CtrlgenError", "DataError", "EmbeddingGenerator",
           "FixedTokens", "GenerationOutput", "GuidanceConfig", "Infill", "Length", "MRParseError", "ModelContext",
           "ModelFingerprint", "NoiseAwareClassifier", "Prefix", "SamplingError", "SemanticField", "Suffix",
           "SyntaxSpans", "SyntaxTree", "__version__", "evaluate_classifier", "fit_classifier", "load",
           "load_classifier", "register_classifier"]
