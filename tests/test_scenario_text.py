"""Scenario files as Windows users save them: encodings and Windows paths in double quotes."""

import re
import tomllib

import pytest

from geoaccess.errors import InputError
from geoaccess.scenario import read_toml

SCENARIO = '[scenario]\r\nname = "泗县"\r\n\r\n[network]\r\nsource = "roads.gpkg"\r\n'


# Every kind of escape TOML refuses (\U and \u without hex digits, \x, \N, \d, \R …) and
# every one it reads as a control character (\t, \r, \n, \b, \f): a Windows path either way.
@pytest.mark.parametrize("path", [
    r"C:\Users\data\roads.gpkg", r"C:\users\roads.gpkg", r"C:\xian\路网.shp", r"C:\Nanjing\roads.osm.pbf",
    r"C:\data\roads.gpkg", r"D:\GIS\Roads\roads.gpkg", r"data\Roads.gpkg",
    r"D:\tmp\roads.gpkg", r"C:\new\roads.gpkg", r"C:\data\final\roads.gpkg", r"E:\backup\b.shp", r"C:\x\net\r.osm",
])
def test_a_windows_path_in_double_quotes_gets_its_own_path_rewritten(tmp_path, path):
    (tmp_path / "s.toml").write_text(f'[network]\nsource = "{path}"\n', encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_toml(tmp_path / "s.toml", "scenario")
    message = str(err.value)
    assert "s.toml" in message and "Windows path in double quotes" in message
    quoted, slashed = re.search(r"in single quotes \(('[^']*')\) or with forward slashes \((\"[^\"]*\")\)$",
                                message).groups()
    # the advice, written into TOML, reads back as the user's own path (independently: tomllib)
    assert tomllib.loads(f"a = {quoted}")["a"] == path
    assert tomllib.loads(f"a = {slashed}")["a"] == path.replace("\\", "/")


def test_escapes_that_are_meant_are_kept(tmp_path):
    (tmp_path / "s.toml").write_text('[scenario]\nname = "a\\tb"\n[network]\nsource = "C:\\\\data\\\\roads.gpkg"\n',
                                     encoding="utf-8")
    assert read_toml(tmp_path / "s.toml", "scenario") == {"scenario": {"name": "a\tb"},
                                                          "network": {"source": "C:\\data\\roads.gpkg"}}


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig"])
def test_notepad_unicode_with_its_byte_order_mark_is_read_as_utf8_is(tmp_path, codec):
    bom = "\ufeff" if codec in ("utf-16-le", "utf-16-be") else ""
    (tmp_path / "s.toml").write_bytes((bom + SCENARIO).encode(codec))
    assert read_toml(tmp_path / "s.toml", "scenario") == tomllib.loads(SCENARIO)


@pytest.mark.parametrize("codec, found, iconv", [
    ("utf-16-le", "UTF-16 without a byte-order mark", "iconv -f UTF-16 -t UTF-8 s.toml > s_utf8.toml"),
    ("gbk", "GBK (Notepad's \"ANSI\"", "iconv -f GBK -t UTF-8 s.toml > s_utf8.toml"),
])
def test_other_encodings_are_named_with_how_to_save_as_utf8(tmp_path, codec, found, iconv):
    (tmp_path / "s.toml").write_bytes(SCENARIO.encode(codec))
    with pytest.raises(InputError) as err:
        read_toml(tmp_path / "s.toml", "scenario")
    message = str(err.value)
    assert "s.toml must be saved as UTF-8" in message and found in message
    assert "File → Save As, Encoding: UTF-8" in message and iconv in message


def test_bytes_of_no_known_encoding_are_located(tmp_path):
    (tmp_path / "s.toml").write_bytes(b'[scenario]\nname = "\xff\xfe\xfa"\n')
    with pytest.raises(InputError, match=r"s.toml must be saved as UTF-8 text; it is neither UTF-8 nor GBK "
                                         r"\(byte 0xff on line 2\).*Encoding: UTF-8"):
        read_toml(tmp_path / "s.toml", "scenario")


def test_a_targets_file_is_read_as_the_scenario_is(tmp_path):
    from geoaccess.scenario import load_scenario

    target = ('[clinic_5]\r\nname_zh = "诊所5分钟"\r\nname_en = "clinic 5 min"\r\nfacility_types = ["clinic"]\r\n'
              'mode = "drive"\r\ndirection = "to_facility"\r\nthreshold_min = 5\r\npopulation = "all"\r\n'
              'metric = "share_within"\r\ngoal = 0.9\r\n')
    (tmp_path / "t.toml").write_bytes(target.encode("utf-16"))  # Notepad "Unicode": BOM + UTF-16-LE
    scenario = ('[scenario]\nname = "x"\n[network]\nsource = "roads.osm"\n[facilities]\npath = "f.csv"\n'
                '[population]\npath = "p.tif"\n[targets]\nfile = "t.toml"\nuse = ["clinic_5"]\n')
    (tmp_path / "s.toml").write_text(scenario, encoding="utf-8")
    assert load_scenario(tmp_path / "s.toml").targets["clinic_5"].threshold_min == 5
    (tmp_path / "t.toml").write_bytes(target.encode("gbk"))
    with pytest.raises(InputError, match=r"targets file t.toml must be saved as UTF-8 text; it is in GBK"):
        load_scenario(tmp_path / "s.toml")
    (tmp_path / "s.toml").write_text(scenario.replace('"t.toml"', '"none.toml"'), encoding="utf-8")
    with pytest.raises(InputError, match=r"targets file not found: .*none.toml \(set by \[targets\] file"):
        load_scenario(tmp_path / "s.toml")


def test_a_path_in_a_list_or_an_array_of_tables_is_checked_too(tmp_path):
    (tmp_path / "s.toml").write_text('[scenario]\nname = "x"\n[extra]\npaths = ["a.gpkg", "D:\\tmp\\b.gpkg"]\n'
                                     '[[more]]\npath = "ok.csv"\n[[more]]\npath = "E:\\new\\f.csv"\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"\[extra\] paths: \"D:\\tmp\\b.gpkg\" is a Windows path"):
        read_toml(tmp_path / "s.toml", "scenario")
    (tmp_path / "s.toml").write_text('[[more]]\npath = "ok.csv"\n[[more]]\npath = "E:\\new\\f.csv"\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"\[more\] path: \"E:\\new\\f.csv\" is a Windows path"):
        read_toml(tmp_path / "s.toml", "scenario")
