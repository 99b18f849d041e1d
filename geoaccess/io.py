"""File checks, table and vector reading with encoding handling, and atomic writes.

:func:`read_table` is the one reader of .csv / .xlsx tables (facilities, population
points, candidate sites): it handles the encodings Chinese spreadsheets use and gives
every row its line number in the file, so messages send the user to the right line.

Every file geoaccess writes goes through :func:`write_atomic`: the content is written
to a temporary file in the same folder and renamed over the target, so an interrupted
run never leaves a half-written output.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from .errors import InputError

VECTOR_SUFFIXES = (".gpkg", ".shp", ".geojson", ".json", ".fgb", ".zip")
TABLE_SUFFIXES = (".csv", ".xlsx")
RASTER_SUFFIXES = (".tif", ".tiff")


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
        raise InputError(f"{what} {p.name} is empty (0 bytes): a failed download or copy leaves such a file: "
                         "download or copy it again")
    return p


def read_vector(path: str | os.PathLike, what: str = "vector file", layer: str | None = None,
                encoding: str | None = None, use_arrow: bool = False) -> gpd.GeoDataFrame:
    """Read a GeoPackage / Shapefile / GeoJSON into a GeoDataFrame.

    Shapefiles from Chinese GIS software are often GBK-encoded without a ``.cpg``
    file; when ``encoding`` is not given and the attribute table is not valid UTF-8,
    the file is read again as GBK (the superset GB18030 is used, so GB2312 files
    work too). Pass ``encoding`` to force one. ``use_arrow``: a GeoPackage is read with
    pyogrio's Arrow reader first (half the CPU time on large layers; UTF-8 only).
    """
    p = check_input_file(path, what, VECTOR_SUFFIXES)
    kwargs: dict[str, Any] = {}
    if layer is not None:
        kwargs["layer"] = layer
    elif p.suffix.lower() == ".gpkg":
        _check_one_layer(p, what)
    if use_arrow and encoding is None and p.suffix.lower() == ".gpkg":
        try:
            import pyarrow as pa

            gdf = gpd.read_file(p, use_arrow=True, **kwargs)
            for col in gdf.columns:  # Arrow keeps text that is not UTF-8 as it is: checked here, once
                if isinstance(gdf[col].array, pd.arrays.ArrowStringArray):
                    pa.array(gdf[col].array).validate(full=True)
            return check_coordinates(gdf, p.name)
        except InputError:
            raise
        except Exception:  # not UTF-8, or unreadable: the reader below decides and words the error
            pass
    try:
        if encoding is not None:
            return check_coordinates(gpd.read_file(p, encoding=encoding, **kwargs), p.name)
        gdf = gpd.read_file(p, **kwargs)
        if p.suffix.lower() == ".shp" and not p.with_suffix(".cpg").exists() and _has_mojibake(gdf):
            gdf = gpd.read_file(p, encoding="gb18030", **kwargs)
        return check_coordinates(gdf, p.name)
    except UnicodeDecodeError:
        try:
            return check_coordinates(gpd.read_file(p, encoding="gb18030", **kwargs), p.name)
        except UnicodeDecodeError as exc:
            raise InputError(f"could not read {what} {p}: its text is neither UTF-8 nor GBK ({exc.reason} at byte "
                             f"{exc.start} of a value); save it again with UTF-8 text (QGIS: Export > Save Features "
                             "As, encoding UTF-8)") from None
    except InputError:
        raise
    except Exception as exc:  # pyogrio/GDAL errors: say which file and why
        raise InputError(f"could not read {what} {p}: {exc}") from None


def off_the_earth(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Which lon/lat (degrees) are no place on the earth: not finite, a longitude beyond
    ±180° or a latitude beyond ±90° (bool per point)."""
    with np.errstate(invalid="ignore"):
        return ~(np.isfinite(lon) & np.isfinite(lat)) | (np.abs(lon) > 180) | (np.abs(lat) > 90)


def check_coordinates(gdf: gpd.GeoDataFrame, name: str) -> gpd.GeoDataFrame:
    """``gdf`` as it is if every coordinate is a place on the earth in its CRS; else refused.

    A geographic CRS takes longitudes within ±180° and latitudes within ±90°; a projected one
    must take every row back to such a lon/lat (finite). The extent's corners are checked
    first (a few points), the rows only when a corner fails.

    Parameters
    ----------
    gdf
        A layer as read, its index the 0-based row in the file.
    name
        The file's name, for the message (its suffix tells a GeoJSON file).

    Returns
    -------
    geopandas.GeoDataFrame
        ``gdf`` itself.

    Raises
    ------
    InputError
        Rows whose coordinates are impossible for the CRS the file was read as: the
        file, the rows (0-based, file order), the first coordinate, that CRS and the likely
        fix (:func:`geoaccess.coords.crs_mismatch_hint`: swapped lon/lat, metres in a
        GeoJSON file, a Gauss-Krüger zone number).
    """
    import shapely
    from pyproj import CRS, Transformer

    from .coords import crs_mismatch_hint

    if gdf.crs is None or len(gdf) == 0:
        return gdf
    crs = CRS(gdf.crs)
    corners = np.asarray(gdf.total_bounds, float).reshape(2, 2)
    if not np.isfinite(corners).all():  # no geometry at all: the readers say so
        return gdf

    def to_lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if crs.is_geographic:
            return x, y
        with np.errstate(invalid="ignore"):
            return Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)

    xs, ys = np.meshgrid(corners[:, 0], corners[:, 1])
    if not off_the_earth(*to_lonlat(xs.ravel(), ys.ravel())).any():
        return gdf
    bounds = shapely.bounds(gdf.geometry.to_numpy())
    present = np.isfinite(bounds).all(axis=1)
    bad = np.zeros(len(gdf), dtype=bool)
    for ix, iy in ((0, 1), (2, 3), (0, 3), (2, 1)):  # each row's four corners
        bad[present] |= off_the_earth(*to_lonlat(bounds[present, ix], bounds[present, iy]))
    if not bad.any():
        return gdf
    rows = np.flatnonzero(bad)
    x, y = bounds[rows[0], 0], bounds[rows[0], 1]
    decimals = 6 if crs.is_geographic else 2
    shown = ", ".join(str(int(r)) for r in rows[:10]) + (f" and {len(rows) - 10:,} more" if len(rows) > 10 else "")
    raise InputError(f"{name}: {len(rows):,} row{'s' if len(rows) > 1 else ''} (0-based rows in file order: {shown}; "
                     f"first at x={x:.{decimals}f}, y={y:.{decimals}f}) are no place on the earth in the CRS the "
                     f"file was read as, {crs_label(crs)}. {crs_mismatch_hint(x, y, crs, name)}")


def _check_one_layer(p: Path, what: str) -> None:
    """A GeoPackage of several layers needs its layer named: the first one is not a guess to make."""
    import pyogrio

    try:
        names = [str(n) for n in pyogrio.list_layers(p)[:, 0]]
    except Exception:  # unreadable: the reader says why
        return
    if len(names) > 1:
        shown = ", ".join(repr(n) for n in names[:10]) + (" …" if len(names) > 10 else "")
        raise InputError(f"{what} {p.name} holds {len(names)} layers ({shown}): name the one to read with "
                         "layer = \"...\" in its section of the scenario ([network], [facilities], [population] "
                         "or [admin])")


def _has_mojibake(gdf: gpd.GeoDataFrame) -> bool:
    """True if text columns hold U+FFFD or Latin-1 mojibake, the sign of GBK read as UTF-8/Latin-1."""
    for col in gdf.columns:
        if col == gdf.geometry.name or not (pd.api.types.is_string_dtype(gdf[col]) or gdf[col].dtype == object):
            continue
        text = "".join(str(v) for v in gdf[col].dropna().head(200))
        if "\ufffd" in text or any("\u0080" <= ch <= "\u00ff" for ch in text):
            return True
    return False


def read_table(path: str | os.PathLike, what: str = "table", sheet: str | int | None = None,
               encoding: str | None = None, text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a .csv or .xlsx table, handling the encodings Chinese spreadsheets use.

    Same as :func:`read_table_lines` without the line numbers.
    """
    return read_table_lines(path, what, sheet=sheet, encoding=encoding, text_columns=text_columns)[0]


def read_table_lines(path: str | os.PathLike, what: str = "table", sheet: str | int | None = None,
                     encoding: str | None = None,
                     text_columns: tuple[str, ...] = ()) -> tuple[pd.DataFrame, np.ndarray]:
    """Read a .csv or .xlsx table and the file line number of each of its rows.

    CSV files are read as UTF-8 (a byte-order mark, as Excel writes, is skipped) and,
    if that fails, as GB18030 (a superset of GBK and GB2312), unless ``encoding`` is
    given. Blank lines are skipped. Header names are stripped of surrounding whitespace.

    Parameters
    ----------
    path : str or path-like
        A .csv or .xlsx file.
    what : str
        Names the input in messages.
    sheet : str or int, optional
        Worksheet name or 0-based position for .xlsx; the first sheet by default.
    encoding : str, optional
        Force a CSV encoding.
    text_columns : tuple of str
        Columns to read as text (ids such as ``"001"`` keep their leading zeros).

    Returns
    -------
    (pandas.DataFrame, numpy.ndarray of int)
        The table (index 0..n-1) and, per row, its line in the file as a text editor or
        spreadsheet shows it: CSV, the physical line where the row starts, the header
        being line 1 and blank lines counted; XLSX, the sheet's row number (header in
        row 1).

    Raises
    ------
    InputError
        Missing file, unknown type, undecodable or unreadable file, unknown sheet, or
        no rows.
    """
    p = check_input_file(path, what, TABLE_SUFFIXES)
    dtype = {c: str for c in text_columns}
    try:
        if p.name.lower().endswith(".xlsx"):
            df = _read_xlsx(p, what, sheet, dtype)
            lines = np.arange(len(df), dtype=np.int64) + 2  # pandas reads the header from sheet row 1
        else:
            text = _decode(p, what, encoding)
            df = pd.read_csv(io.StringIO(text, newline=""), dtype=dtype)
            lines = _csv_record_lines(text, len(df))
    except InputError:
        raise
    except Exception as exc:  # pandas / openpyxl parse errors: say which file and why
        raise InputError(f"could not read {what} {p}: {exc}") from None
    df.columns = [c.strip() if isinstance(c, str) else c for c in df.columns]
    if df.empty:
        raise InputError(f"{what} has no rows: {p}")
    return df, lines


def _decode(p: Path, what: str, encoding: str | None) -> str:
    raw = p.read_bytes()
    if encoding is not None:
        try:
            return raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise InputError(f"could not decode {what} {p} with encoding {encoding!r}: {exc}; drop the encoding "
                             "setting to let geoaccess try UTF-8 and GBK, or name the file's real encoding") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise InputError(f"could not decode {what} {p} as UTF-8 or GBK/GB18030: {exc}; save it as UTF-8 "
                         "(Excel: CSV UTF-8) or set encoding to the file's encoding") from None


def _csv_record_lines(text: str, n_rows: int) -> np.ndarray:
    """Physical line (header = 1) where each data row of a CSV starts, as pandas reads it.

    pandas skips blank lines (empty or whitespace only) and lets quoted cells span lines,
    so the row index is not the line number; the csv module reports where each record
    ends, which gives where the next one starts.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    starts, blank, previous_end = [], [], 0
    for record in reader:
        starts.append(previous_end + 1)
        blank.append(not record or (len(record) == 1 and not record[0].strip()))
        previous_end = reader.line_num
    lines = np.asarray(starts, dtype=np.int64)[~np.asarray(blank, dtype=bool)][1:]  # [0] is the header
    if len(lines) != n_rows:  # a dialect pandas reads differently: fall back to counting rows
        return np.arange(n_rows, dtype=np.int64) + 2
    return lines


def _read_xlsx(p: Path, what: str, sheet: str | int | None, dtype: dict) -> pd.DataFrame:
    sheets = pd.ExcelFile(p, engine="openpyxl").sheet_names
    if sheet is None:
        sheet = 0
    elif (isinstance(sheet, int) and not 0 <= sheet < len(sheets)) or (isinstance(sheet, str) and sheet not in sheets):
        raise InputError(f"{what} {p.name} has no sheet {sheet!r}; its sheets are {', '.join(map(repr, sheets))}")
    return pd.read_excel(p, sheet_name=sheet, engine="openpyxl", dtype=dtype)


def require_columns(df: pd.DataFrame, what: str, columns: dict[str, str | None]) -> None:
    """Raise :class:`InputError` if a named column is missing.

    Parameters
    ----------
    df : pandas.DataFrame
    what : str
        Names the input in messages.
    columns : dict
        ``{parameter name: column name}``; entries whose column is None are skipped.

    Raises
    ------
    InputError
        Naming the missing column and the parameter to set, and listing the available columns.
    """
    available = [c for c in df.columns if c != "geometry"]
    for param, col in columns.items():
        if col is not None and col not in df.columns:
            raise InputError(
                f"{what} has no column {col!r}; set the {param!r} parameter to the column that holds it."
                f" Available columns: {', '.join(map(repr, available))}"
            )


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


_CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` whose text cells cannot run as spreadsheet formulas.

    Text cells (``str``) starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
    return get a leading ``'`` (OWASP CSV-injection advice), so Excel and WPS show them as
    text; numbers (including negative ones) and missing values are untouched.

    Parameters
    ----------
    table
        The table about to be written with ``to_csv``.

    Returns
    -------
    pandas.DataFrame
        A new frame; ``table`` is not modified.
    """
    out = table.copy()
    for col in out.columns:
        values = out[col]
        if not (values.dtype == object or pd.api.types.is_string_dtype(values)):
            continue
        # object dtype first: pyarrow-backed strings (pandas with pyarrow installed) do not mix with bool masks
        obj = values.astype(object)
        is_text = obj.map(lambda v: isinstance(v, str)).to_numpy(bool)
        risky = is_text & obj.where(is_text, "").astype(str).str.startswith(_CSV_TRIGGERS).to_numpy(bool)
        if risky.any():
            obj[risky] = "'" + obj[risky].astype(str)
            out[col] = obj
    return out


def file_crs_name(path: str | os.PathLike, layer: str | None = None, given: str | None = None) -> str:
    """The CRS a spatial input file is read as, for messages: ``given`` for tables (their
    ``crs`` key), the file's own for rasters and vector files, 'EPSG:4326' for OSM files.

    Parameters
    ----------
    path
        The file.
    layer
        Its layer (GeoPackage of several).
    given
        The scenario's ``crs`` key, used for tables (.csv/.xlsx).

    Returns
    -------
    str
        'EPSG:4526 (CGCS2000 / 3-degree Gauss-Kruger zone 38)', or 'no CRS', or 'unknown'
        where the file cannot be opened again (it was read once already).
    """
    from pyproj import CRS

    p = str(path).lower()
    try:
        if p.endswith((".csv", ".xlsx", ".xls", ".txt")):
            crs = CRS.from_user_input(given) if given else None
            return crs_label(crs) if crs is not None else str(given)
        if p.endswith((".osm", ".pbf", ".osm.pbf", ".osm.gz", ".osm.bz2", ".graphml")):
            return "EPSG:4326 (OpenStreetMap's WGS84 lon/lat)" if not p.endswith(".graphml") else "the graph's own CRS"
        if p.endswith((".tif", ".tiff", ".img", ".asc", ".vrt")):
            import rasterio

            with rasterio.open(path) as src:
                return crs_label(CRS(src.crs)) if src.crs else "no CRS"
        import pyogrio

        wkt = pyogrio.read_info(path, layer=layer)["crs"]
        return crs_label(CRS.from_user_input(wkt)) if wkt else "no CRS"
    except Exception:  # noqa: BLE001 - a label for a message; the file was read once already
        return given or "unknown"


def crs_label(crs: Any) -> str:
    """'EPSG:4526 (CGCS2000 / 3-degree Gauss-Kruger zone 38)' for messages."""
    return f"{crs.to_string()} ({crs.name})"
