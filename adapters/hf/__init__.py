"""Hugging Face Hub adapter: clients set ``HF_ENDPOINT`` to the proxy."""

from adapters.hf.routes import HfFrontend

__all__ = ["HfFrontend"]
