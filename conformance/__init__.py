"""api-conformance: a contract and conformance suite for documented HTTP APIs."""

__version__ = "0.1.0"
__all__ = ["__version__"]
