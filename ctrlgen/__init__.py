"""ctrlgen: controllable text generation and editing with diffusion language models.

```python
import ctrlgen
gen = ctrlgen.load("e2e")          # bundled default Diffusion-LM model, offline
print(gen.generate(n=4, seed=0).texts)
```
"""

__version__ = "0.1.0"

from .constraints import FixedTokens, Infill, Length, Prefix, Suffix  # noqa: E402
from .errors import (  # noqa: E402
    CheckpointError,
    ConfigError,
    ConstraintConflictError,
    CtrlgenError,
    DataError,
    MRParseError,
    SamplingError,
)
from .pipeline import EmbeddingGenerator, GenerationOutput, load  # noqa: E402

__all__ = ["CheckpointError", "ConfigError", "ConstraintConflictError", "CtrlgenError", "DataError",
           "EmbeddingGenerator", "FixedTokens", "GenerationOutput", "Infill", "Length", "MRParseError", "Prefix",
           "SamplingError", "Suffix", "__version__", "load"]
