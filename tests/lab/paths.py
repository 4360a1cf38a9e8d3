"""Where the lab keeps its image cache and the state of the running fleet."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SNAP_SOURCES = Path(__file__).resolve().parent / "snaps"


def cache_dir() -> Path:
    """Image cache: $SNAPFLEET_LAB_CACHE, else lab/ in the project's cache (as the venvs' bootstrap finds it)."""
    explicit = os.environ.get("SNAPFLEET_LAB_CACHE")
    if explicit:
        return Path(explicit).expanduser().resolve()
    project = os.environ.get("SNAPFLEET_CACHE")
    if project:
        return Path(project).expanduser().resolve() / "lab"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser().resolve() / "snapfleet" / "lab"


def run_dir() -> Path:
    """State of the running fleet (pid files, overlays, inventory): $SNAPFLEET_LAB_RUN, else .lab/ in the repo."""
    explicit = os.environ.get("SNAPFLEET_LAB_RUN")
    return Path(explicit).expanduser().resolve() if explicit else REPO / ".lab"
