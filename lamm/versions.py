"""The versions a run records (checkpoint manifests, eval provenance, score files): lamm's own and those of
the libraries that shape its numbers."""

from __future__ import annotations

import platform
from importlib import metadata

from lamm import __version__


def versions(*packages: str) -> dict[str, str | None]:
    """``{"python", "lamm", *packages}`` -> version (None: not installed). Read from the installed
    distributions' metadata, so asking for torch's version never imports torch (scoring stays light);
    lamm's is the running code's ``__version__``, not whichever lamm is installed."""
    out: dict[str, str | None] = {"python": platform.python_version(), "lamm": __version__}
    for name in packages:
        if name in out:
            continue
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
