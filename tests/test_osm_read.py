"""The OSM reader's bulk path (libosmium writes the tagged ways as OPL text with their nodes'
locations; geoaccess parses that text with numpy) against pyosmium's object API, node by node."""

from pathlib import Path

import numpy as np
import osmium
import pandas as pd
import pytest
import shapely

from geoaccess import osm
from geoaccess.osm import _read_osm
from geoaccess.osmtags import TAG_KEYS

MONACO = Path(__file__).resolve().parents[1] / "data" / "demo" / "monaco.osm.pbf"

TRICKY = """<?xml version='1.0' encoding='UTF-8'?>
<osm version='0.6' generator='test'>
  <node id='1' lat='33.5' lon='117.1'/>
  <node id='2' lat='-33.4543095' lon='-117.0000001'/>
  <node id='4' lat='0' lon='0.12'/>
  <node id='5' lat='33.0000010' lon='117.0000100'/>
  <node id='6' lat='33.1' lon='117.2'/>
  <node id='7' lat='33.2' lon='117.2'/>
  <node id='8' lat='33.2' lon='117.3'/>
  <node id='9' lat='1e-7' lon='179.9999999'/>
  <way id='10'><nd ref='1'/><nd ref='3'/><nd ref='2'/><nd ref='4'/>
    <tag k='highway' v='res,id=en tial%'/><tag k='name' v='a%b é 路'/><tag k='max speed' v='30'/>
    <tag k='maxspeed' v='50 mph'/><tag k='access' v='private;delivery'/>
    <tag k='motor_vehicle' v='no'/><tag k='motor%vehicle' v='yes'/></way>
  <way id='11'><nd ref='3'/><nd ref='5'/><tag k='highway' v='track'/></way>
  <way id='12'><nd ref='5'/><nd ref='6'/><nd ref='9'/><tag k='highway' v='primary'/><tag k='oneway' v='-1'/></way>
  <way id='13'><nd ref='6'/><nd ref='7'/><nd ref='8'/><nd ref='6'/><tag k='natural' v='water'/></way>
  <way id='14'><nd ref='7'/><nd ref='8'/><tag k='natural' v='coastline'/></way>
  <way id='15'><nd ref='7'/><nd ref='8'/><tag k='natural' v='wood'/></way>
  <way id='16'><nd ref='3'/><nd ref='3'/><tag k='waterway' v='riverbank'/></way>
  <relation id='20'><member type='way' ref='13' role='outer'/><tag k='type' v='multipolygon'/>
    <tag k='natural' v='water'/></relation>
</osm>
"""


def reference(path: Path):
    """Roads and water ways read object by object through pyosmium (the reader before OPL)."""
    rows, way_ids, flat, n_nodes, water = [], [], [], [], []
    processor = osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY).with_locations()
    for obj in processor.with_filter(osmium.filter.EntityFilter(osmium.osm.WAY)):
        tags = dict(obj.tags)
        nodes = [(n.ref, n.location.lon, n.location.lat) for n in obj.nodes if n.location.valid()]
        if len(nodes) < 2:
            continue
        area = tags.get("natural") == "water" or tags.get("waterway") == "riverbank" or tags.get("water") == "river"
        if "highway" in tags:
            rows.append({k: tags[k] for k in TAG_KEYS if k in tags})
            way_ids.append(obj.id)
            flat.extend(nodes)
            n_nodes.append(len(nodes))
        elif tags.get("natural") == "coastline":
            water.append(shapely.LineString([n[1:] for n in nodes]))
        elif area and len(nodes) >= 4 and nodes[0][0] == nodes[-1][0]:
            water.append(shapely.Polygon([n[1:] for n in nodes]))
    tags = pd.DataFrame(rows, columns=list(TAG_KEYS), index=pd.Index(way_ids, name="osm_way"))
    return tags, np.repeat(np.arange(len(rows)), n_nodes), [n[0] for n in flat], [n[1:] for n in flat], water


@pytest.mark.parametrize("which, chunk", [("tricky", 4096), ("tricky", 1), ("monaco", 4096), ("monaco", 1000)])
def test_bulk_read_equals_pyosmium_objects(tmp_path, monkeypatch, which, chunk):
    monkeypatch.setattr(osm, "_CHUNK_WAYS", chunk)  # ways parsed per numpy call: the same answer
    if which == "tricky":
        path = tmp_path / "tricky.osm"
        path.write_text(TRICKY, encoding="utf-8")
    else:
        path = MONACO
    tags, row_of, refs, lonlat, way_ids, water, missing = _read_osm(path)
    want_tags, want_row, want_refs, want_lonlat, want_water = reference(path)
    pd.testing.assert_frame_equal(tags, want_tags)
    np.testing.assert_array_equal(row_of, want_row)
    np.testing.assert_array_equal(refs, np.array(want_refs, dtype=np.int64))
    assert lonlat.tobytes() == np.array(want_lonlat, dtype=np.float64).tobytes()  # the same doubles
    np.testing.assert_array_equal(way_ids, want_tags.index.to_numpy())
    if which == "tricky":
        # escaped characters decoded; the missing node 3 cut out; way 11 (one located node) gone
        assert tags.loc[10, "highway"] == "res,id=en tial%" and tags.loc[10, "maxspeed"] == "50 mph"
        assert tags.loc[10, "access"] == "private;delivery" and tags.loc[10, "motor_vehicle"] == "no" and list(tags.index) == [10, 12]
        assert refs.tolist() == [1, 2, 4, 5, 6, 9]
        assert lonlat[:3].tolist() == [[117.1, 33.5], [-117.0000001, -33.4543095], [0.12, 0.0]]
        # the closed water way, the coastline, and the relation's multipolygon (one more pass)
        assert [g.geom_type for g in water] == ["Polygon", "LineString", "MultiPolygon"]
    # ways' water geometries (the relations' multipolygons come after them)
    got_ways = water[:len(want_water)]
    assert all(shapely.equals_exact(got_ways, shapely.make_valid(np.array(want_water, dtype=object)), 0))


EMPTY_WAYS = """<?xml version='1.0' encoding='UTF-8'?>
<osm version='0.6' generator='test'>
  <node id='1' lat='26.5' lon='106.7'/><node id='2' lat='26.51' lon='106.7'/><node id='3' lat='26.51' lon='106.71'/>
  <way id='1'><nd ref='1'/><nd ref='2'/><tag k='highway' v='residential'/></way>
  <way id='2'><tag k='highway' v='residential'/></way>
  <way id='3'><nd ref='2'/><nd ref='3'/><tag k='highway' v='primary'/></way>
  <way id='4'><tag k='natural' v='coastline'/></way>
  <way id='5'><tag k='highway' v='track'/></way>
  <way id='6'><nd ref='1'/><nd ref='3'/><tag k='highway' v='tertiary'/></way>
</osm>
"""


@pytest.mark.parametrize("chunk", [1, 2, 4096])
def test_ways_without_nodes_are_left_out_anywhere_in_the_file(tmp_path, monkeypatch, chunk):
    # a way with no nd (an editor's leftover, a clipped extract) among the others: left out like a
    # one-node way, in every chunking, not a parse error for the whole file
    monkeypatch.setattr(osm, "_CHUNK_WAYS", chunk)
    path = tmp_path / "empty_ways.osm"
    path.write_text(EMPTY_WAYS, encoding="utf-8")
    tags, row_of, refs, lonlat, way_ids, water, missing = _read_osm(path)
    want_tags, want_row, want_refs, want_lonlat, _ = reference(path)
    pd.testing.assert_frame_equal(tags, want_tags)
    assert way_ids.tolist() == [1, 3, 6] and row_of.tolist() == want_row.tolist() == [0, 0, 1, 1, 2, 2]
    assert refs.tolist() == want_refs == [1, 2, 2, 3, 1, 3] and len(water) == 0
    assert lonlat.tobytes() == np.array(want_lonlat, dtype=np.float64).tobytes()


def test_a_full_temporary_folder_is_named_with_the_fix(monkeypatch):
    # libosmium fails with a bare error when the temporary OPL copy of the ways cannot be
    # written; a full disk is named, with the folder and the fix (exit 2, not a traceback)
    import osmium

    from geoaccess.errors import InputError
    from geoaccess.network import network_from_file

    def full(*args, **kwargs):
        raise RuntimeError("write failed: No space left on device")

    monkeypatch.setattr(osmium, "apply", full)
    monkeypatch.setattr(osm.shutil, "disk_usage", lambda p: shutil_usage(0))
    with pytest.raises(InputError, match=r"monaco.osm.pbf: the temporary copy of its ways in .* ran out of disk "
                                         r"space; free space there or set TMPDIR"):
        network_from_file(MONACO)
    # not full: the library's error is reported as the file's read error, as before
    monkeypatch.setattr(osm.shutil, "disk_usage", lambda p: shutil_usage(10 * 2**30))
    with pytest.raises(InputError, match="could not read road network monaco.osm.pbf: RuntimeError: write failed"):
        network_from_file(MONACO)


def shutil_usage(free):
    import shutil

    return shutil._ntuple_diskusage(20 * 2**30, 20 * 2**30 - free, free)


def test_an_unsorted_osm_file_is_named_with_the_fix(tmp_path):
    # JOSM writes new objects (negative ids) after the others: libosmium's location index needs
    # the file sorted, and its bare "Way IDs out of order" gave no fix
    from geoaccess.errors import InputError
    from geoaccess.network import network_from_file

    path = tmp_path / "josm.osm"
    # way 16 renumbered -16 and left after the others; relation 20 (water) needs the areas assembled
    path.write_text(TRICKY.replace("<way id='16'>", "<way id='-16'>"), encoding="utf-8")
    with pytest.raises(InputError, match=r"josm.osm: its objects are not sorted by type and id .*out of order.*"
                                         r"`osmium sort josm.osm -o sorted.osm.pbf`"):
        network_from_file(path)
