"""tamiz.pipeline: pure data steps (no Prefect, no executor). One `Document` type flows through them."""

from tamiz.pipeline.document import Document

__all__ = ["Document"]

