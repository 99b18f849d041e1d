"""File checks, vector reading with encoding handling, and atomic writes.

Every file geoaccess writes goes through :func:`write_atomic`: the content is written
to a temporary file in the same folder and renamed over the target, so an interrupted
run never leaves a half-written output.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from .errors import InputError

VECTOR_SUFFIXES = (".gpkg", ".shp", ".geojson", ".json", ".fgb", ".zip")


def check_input_file(path: str | os.PathLike, what: str, suffixes: Iterable[str] | None = None) -> Path:
    """Return ``path`` as a Path if it exists and has an accepted suffix.

    ``what`` names the input in messages ("facility file", "road network").
    Raises :class:`InputError` for a missing file, a folder, or an unknown type.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise InputError(f"{what} not found: {p} (check the path; relative paths resolve against the scenario file's folder)")
    if p.is_dir():
        raise InputError(f"{what} is a folder, not a file: {p}")
    if suffixes is not None:
        allowed = tuple(suffixes)
        name = p.name.lower()
        if not name.endswith(allowed):
            raise InputError(
                f"{what} has an unknown file type: {p.name}; accepted types are {', '.join(allowed)}"
            )
    if p.stat().st_size == 0:
        raise InputError(f"{what} is empty (0 bytes): {p}")
    return p


def read_vector(path: str | os.PathLike, what: str = "vector file", layer: str | None = None,
                encoding: str | None = None) -> gpd.GeoDataFrame:
    """Read a GeoPackage / Shapefile / GeoJSON into a GeoDataFrame.

    Shapefiles from Chinese GIS software are often GBK-encoded without a ``.cpg``
    file; when ``encoding`` is not given and the attribute table is not valid UTF-8,
    the file is read again as GBK (the superset GB18030 is used, so GB2312 files
    work too). Pass ``encoding`` to force one.
    """
    p = check_input_file(path, what, VECTOR_SUFFIXES)
    kwargs: dict[str, Any] = {}
    if layer is not None:
        kwargs["layer"] = layer
    try:
        if encoding is not None:
            return gpd.read_file(p, encoding=encoding, **kwargs)
        gdf = gpd.read_file(p, **kwargs)
        if p.suffix.lower() == ".shp" and not p.with_suffix(".cpg").exists() and _has_mojibake(gdf):
            gdf = gpd.read_file(p, encoding="gb18030", **kwargs)
        return gdf
    except UnicodeDecodeError:
        return gpd.read_file(p, encoding="gb18030", **kwargs)
    except InputError:
        raise
    except Exception as exc:  # pyogrio/GDAL errors: say which file and why
        raise InputError(f"could not read {what} {p}: {exc}") from None


def _has_mojibake(gdf: gpd.GeoDataFrame) -> bool:
    """True if text columns hold U+FFFD or Latin-1 mojibake, the sign of GBK read as UTF-8/Latin-1."""
    for col in gdf.columns:
        if col == gdf.geometry.name or not (pd.api.types.is_string_dtype(gdf[col]) or gdf[col].dtype == object):
            continue
        text = "".join(str(v) for v in gdf[col].dropna().head(200))
        if "\ufffd" in text or any("\u0080" <= ch <= "\u00ff" for ch in text):
            return True
    return False


@contextmanager
def write_atomic(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"):
    """Open a temporary file beside ``path``; on success rename it over ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        with open(tmp, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs are for sharing
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_with(path: str | os.PathLike, writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp_path)`` for a temporary path beside ``path``, then rename it over ``path``.

    For library writers that want a file name (GeoDataFrame.to_file, rasterio, folium).
    The temporary name keeps the target's suffix so drivers are chosen correctly.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    os.unlink(tmp)  # some drivers refuse to overwrite an existing (empty) file
    try:
        writer(Path(tmp))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as pretty UTF-8 JSON, atomically; NaN and inf become null."""
    with write_atomic(path) as fh:
        json.dump(_json_safe(data), fh, ensure_ascii=False, indent=2, allow_nan=False)
        fh.write("\n")
    return Path(path)


def _json_safe(value: Any) -> Any:
    import math

    import numpy as np

    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
