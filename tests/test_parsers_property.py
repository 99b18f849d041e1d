"""Property tests of the coordinate parser and the table reader (hypothesis)."""

import csv
import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geoaccess.points import parse_degrees
from geoaccess.io import read_table_lines

UNIT = 10_000  # seconds are written with 4 decimals: 1e-4 s = 2.8e-8 degrees


def _parts(value: float):
    """(negative, degrees, minutes, seconds text) of a decimal value, by integer arithmetic."""
    ticks = round(abs(value) * 3600 * UNIT)
    deg, rest = divmod(ticks, 3600 * UNIT)
    minutes, sec = divmod(rest, 60 * UNIT)
    return value < 0 and ticks > 0, deg, minutes, f"{sec // UNIT}.{sec % UNIT:04d}", ticks / (3600 * UNIT)


def _styles(value: float, axis: str):
    neg, d, m, s, exact = _parts(value)
    pos, negh = ("E", "W") if axis == "lon" else ("N", "S")
    h = negh if neg else pos
    word = {"E": "东经", "W": "西经", "N": "北纬", "S": "南纬"}[h]
    minutes = f"{m + float(s) / 60:.8f}"
    sign = "-" if neg else ""
    return exact * (-1 if neg else 1), [
        f"{d}°{m}'{s}\"{h}",
        f"{h}{d}°{m}′{s}″",
        f"{word}{d}度{m}分{s}秒",
        f"{sign}{d} {m} {s}",
        f" {h} {d}° {m}’ {s}” ",
        f"{d}°{minutes}'{h}",
        f"{sign}{d}°{m}'{s}''",
    ]


@settings(max_examples=300, deadline=None)
@given(st.floats(-180, 180, allow_nan=False), st.floats(-90, 90, allow_nan=False))
def test_dms_round_trip(lon, lat):
    for value, axis in ((lon, "lon"), (lat, "lat")):
        exact, texts = _styles(value, axis)
        got, bad = parse_degrees(texts, axis)
        assert not bad.any(), texts
        np.testing.assert_allclose(got, exact, atol=1e-6)
        assert abs(exact - value) < 1e-7  # the text holds the value to 4 decimals of a second


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="°'\"NSEW度分秒 .-+0123456789abc", max_size=12))
def test_parser_never_crashes_and_flags_what_it_cannot_read(text):
    got, bad = parse_degrees([text])
    if text.strip() == "":
        assert np.isnan(got[0]) and not bad[0]
    else:
        assert bad[0] == np.isnan(got[0])


CELL = st.text(alphabet="ab 卫生院村,\"，'\n0123456789.xyz", min_size=1, max_size=8).filter(lambda c: c.strip() != "")


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.tuples(CELL, CELL, CELL), min_size=1, max_size=12),
       blanks=st.lists(st.integers(0, 2), min_size=13, max_size=13),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]),
       crlf=st.booleans())
def test_csv_reader_round_trip_and_line_numbers(tmp_path_factory, rows, blanks, encoding, crlf):
    eol = "\r\n" if crlf else "\n"
    buf, lines, line = io.StringIO(), [], 1
    writer = csv.writer(buf, lineterminator=eol)
    # A Chinese header, as facility lists have: a file of one short GB18030 cell can be
    # valid UTF-8 too ('院' → 'Ժ'), which no reader can tell apart.
    writer.writerow(["名称", "类型", "备注"])
    for row, blank in zip(rows, blanks):
        buf.write(eol * blank)  # blank lines between records
        line += 1 + blank
        lines.append(line)
        writer.writerow(row)
        line += sum(cell.count("\n") for cell in row)  # a quoted cell may span lines
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    path.write_bytes(buf.getvalue().encode(encoding))
    df, got_lines = read_table_lines(path, "table", text_columns=("名称", "类型", "备注"))
    read_back = [tuple(r) for r in df[["名称", "类型", "备注"]].itertuples(index=False)]
    assert read_back == [tuple(c.replace("\r\n", "\n") for c in r) for r in rows]
    assert got_lines.tolist() == lines
