"""ctrlgen: controllable text generation and editing with diffusion language models.

```python
import ctrlgen
gen = ctrlgen.load("e2e")          # bundled default Diffusion-LM model, offline
print(gen.generate(n=4, seed=0).texts)
```
"""

__version__ = "0.1.0"

from .errors import CheckpointError, ConfigError, CtrlgenError, DataError, MRParseError, SamplingError  # noqa: E402
from .pipeline import EmbeddingGenerator, GenerationOutput, load  # noqa: E402

__all__ = ["CheckpointError", "ConfigError", "CtrlgenError", "DataError", "EmbeddingGenerator", "GenerationOutput",
           "MRParseError", "SamplingError", "__version__", "load"]
