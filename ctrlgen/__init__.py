"""ctrlgen: controllable text generation and editing with diffusion language models."""

__version__ = "0.1.0"
