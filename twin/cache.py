"""Where the twin keeps what it can rebuild: files derived from its code and inputs that cost
CPU to make in every process (the built vocabulary, twin/vocabulary.py).

Each file is named or stamped by a digest of what it is made from, so a stale one is never
used; deleting the directory only costs the next start its time.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``TWIN_CACHE_DIR``, else ``$XDG_CACHE_HOME`` or ``~/.cache``, under ``cottbus-twin``."""
    if env := os.environ.get("TWIN_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cottbus-twin"


def private_cache_dir() -> Path:
    """:func:`cache_dir`, created readable by this user only (its files are trusted as
    Python trusts its own ``__pycache__``)."""
    path = cache_dir()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path
