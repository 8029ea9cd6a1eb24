"""tamiz.pipeline: pure data steps (no Prefect, no executor). One `Document` type flows through them."""

from pipeline.document import Document

__all__ = ["Document"]

__version__ = "0.1.0"
