"""Where geoaccess finds its data files (targets, speeds, demo data)."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir() -> Path:
    """The ``data/`` folder: inside an installed wheel, or beside the package in a checkout."""
    installed = _PACKAGE / "_data"
    return installed if installed.is_dir() else _PACKAGE.parent / "data"


def data_path(*parts: str) -> Path:
    """Path of a file under the data folder, e.g. ``data_path("targets.toml")``."""
    return data_dir().joinpath(*parts)
