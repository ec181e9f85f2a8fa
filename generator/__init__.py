"""spectorgen: YAML spec in, typed static Python event-log module (and its SQL) out."""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    """`__version__`, read from the installed metadata when first asked for:
    importing the package (the console script's first step) stays instant, so
    a Ctrl-C right after start meets the CLI's handler, not a traceback."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import metadata

    try:
        version = metadata.version("spectorgen")
    except metadata.PackageNotFoundError:  # running from a bare checkout
        version = "0.0.0+unknown"
    globals()["__version__"] = version
    return version
