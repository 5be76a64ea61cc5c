"""ctrlgen: controllable text generation and editing with diffusion language models.

```python
import ctrlgen
gen = ctrlgen.load("e2e")          # bundled default Diffusion-LM model, offline
print(gen.generate(n=4, seed=0).texts)
```
"""

__version__ = "0.1.0"

from .classifier_training import evaluate_classifier, fit_classifier
from .constraints import (
    CLASSIFIERS,
    POS,
    Classifier,
    ClassifierData,
    ConstraintError,
    FixedTokens,
    Infill,
    Length,
    ModelContext,
    ModelFingerprint,
    NoiseAwareClassifier,
    Prefix,
    SemanticField,
    Suffix,
    SyntaxSpans,
    SyntaxTree,
    load_classifier,
    register_classifier,
)
from .errors import (
    CheckpointError,
    ConfigError,
    ConstraintConflictError,
    CtrlgenError,
    DataError,
    MRParseError,
    SamplingError,
)
from .guidance import GuidanceConfig
from .pipeline import EmbeddingGenerator, GenerationOutput, load

__all__ = ["CLASSIFIERS", "POS", "CheckpointError", "Classifier", "ClassifierData", "ConfigError",
           "ConstraintConflictError", "ConstraintError", "CtrlgenError", "DataError", "EmbeddingGenerator",
           "FixedTokens", "GenerationOutput", "GuidanceConfig", "Infill", "Length", "MRParseError", "ModelContext",
           "ModelFingerprint", "NoiseAwareClassifier", "Prefix", "SamplingError", "SemanticField", "Suffix",
           "SyntaxSpans", "SyntaxTree", "__version__", "evaluate_classifier", "fit_classifier", "load",
           "load_classifier", "register_classifier"]
