"""spectorgen: YAML spec in, typed static Python event-log module (and its SQL) out."""

from importlib import metadata

try:
    __version__ = metadata.version("spectorgen")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
