"""What an OpenStreetMap file really holds, and which of its tags libosmium cannot read.

:func:`osm_file` opens a file by its content (a ``.osm.pbf`` saved as ``.osm``, XML named
``.pbf``, gzip/bzip2-compressed XML) and names anything that is no OSM data (a download's
HTML error page, Overpass JSON, GraphML, a change file, a zip). :func:`raise_if_overlong`
turns libosmium's refusal of a tag over :data:`MAX_TAG_BYTES` into a message naming the
objects and keys, found again in Python (a small PBF reader for that error path only).
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import re
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError, counted
from .speedlimits import RoadDataWarning

_SNIFF_BYTES = 4096
_XML_ENCODING = re.compile(rb"<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)")
_EXPAT_ENCODINGS = ("utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1")  # what expat reads itself
_XML_ROOT = re.compile(rb"<(?![?!])([A-Za-z_][\w.:-]*)")  # the first element's name, past <?xml …?> and comments


def _sniff(path: Path) -> tuple[str, str]:
    """What ``path`` holds by its first bytes, whatever its name: ``(format, description)``.

    ``format`` is the libosmium format to read it with (``"pbf"``, ``"osm"``, ``"osm.gz"``,
    ``"osm.bz2"``) or ``""`` when it is no OSM data libosmium reads; ``description`` says
    what it is in words (for messages).
    """
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
        if head[:2] == b"\x1f\x8b":  # gzip: look at what it compresses
            inner = b""
            with suppress(zlib.error):  # damaged: described by what could be unpacked
                inner = zlib.decompressobj(wbits=31).decompress(head)
            kind = "osm.gz" if _sniff_bytes(inner)[0] == "osm" else ""
            return kind, f"gzip-compressed {_sniff_bytes(inner)[1]}" if kind else f"gzip-compressed data: {_sniff_bytes(inner)[1]}"
        if head[:3] == b"BZh":  # bzip2 gives nothing before a whole block (≤ 900 kB) is in
            unpack, inner = bz2.BZ2Decompressor(), b""
            while not inner and (chunk := head or fh.read(2**16)):
                head = b""
                with suppress(OSError, EOFError):
                    inner = unpack.decompress(chunk)
            kind = "osm.bz2" if _sniff_bytes(inner)[0] == "osm" else ""
            return kind, f"bzip2-compressed {_sniff_bytes(inner)[1]}" if kind else f"bzip2-compressed data: {_sniff_bytes(inner)[1]}"
    return _sniff_bytes(head)


def _sniff_bytes(head: bytes) -> tuple[str, str]:
    """:func:`_sniff` on a file's first bytes (uncompressed)."""
    # A PBF starts with a 4-byte length and a BlobHeader whose type is the text OSMHeader.
    if b"OSMHeader" in head[:32]:
        return "pbf", "an OSM PBF file (binary)"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "", "text in UTF-16 (its encoding)"
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    declared = _XML_ENCODING.match(text)
    if declared and declared.group(1).decode("ascii", "replace").lower() not in _EXPAT_ENCODINGS:
        return "", f"XML in the {declared.group(1).decode('ascii', 'replace')} encoding"
    if text.startswith(b"<"):
        root = _XML_ROOT.search(text)
        name = root.group(1).decode("ascii", "replace") if root else ""
        if name == "osm":
            return "osm", "OSM XML"
        if name == "osmChange":
            return "", "an OSM change file (.osc: edits, not a map extract)"
        if name.lower() == "html":
            return "", "a web page (HTML), often the error page of a failed download"
        if name == "graphml":
            return "", "a GraphML graph"
        return "", f"XML whose root element is <{name}> (OSM XML has <osm>)"
    if text.startswith((b"{", b"[")):
        if b'"elements"' in text:
            return "", "Overpass JSON ([out:json])"
        return "", "JSON (GeoJSON?)"
    if head.startswith(b"PK\x03\x04"):
        return "", "a zip archive"
    if not head:
        return "", "empty (0 bytes)"
    return "", f"a file of another kind (its first bytes are {head[:8]!r})"


_FORMAT_NAMES = {"pbf": "OSM PBF", "osm": "OSM XML", "osm.gz": "gzip-compressed OSM XML",
                 "osm.bz2": "bzip2-compressed OSM XML"}


def osm_file(path: Path) -> Any:
    """``path`` as an ``osmium.io.File`` of the format its content has, not its name.

    A file whose name says otherwise (a ``.osm.pbf`` saved as ``.osm``, XML named
    ``.pbf``, compressed XML named ``.osm``) is read by its content, with a
    :class:`~geoaccess.speedlimits.RoadDataWarning` saying what it is and how to rename it.

    Raises
    ------
    InputError
        The file is no OSM data libosmium reads (HTML, JSON, a GraphML graph, a change
        file …): names what it is and what to give instead.
    """
    import osmium

    kind, what = _sniff(path)
    name = path.name
    if not kind:
        declared = re.search(r"in the (\S+) encoding", what)
        encoding = declared.group(1) if declared else "UTF-16"
        fixes = {"compressed": "decompress it (7-Zip, or `gzip -d` / `bunzip2`) and give the file inside",
                 "GraphML": f"rename it to {_stem(name)}.graphml",
                 "Overpass": "ask Overpass for XML (`[out:xml];`) and save that as .osm",
                 "GeoJSON": f"a roads file: rename it to {_stem(name)}.geojson and name its columns in [network]",
                 "web page": "open it in a browser to read the error, then download the extract again",
                 "zip": "unzip it and give the .osm.pbf or .osm file inside",
                 "empty": "a failed download or copy leaves such a file: download or copy it again",
                 "change file": "download an extract of the area (e.g. from download.geofabrik.de) instead",
                 "encoding": _to_utf8(name, encoding, declared=True)}
        fix = next((f for k, f in fixes.items() if k in what),
                   "give an OpenStreetMap extract (.osm.pbf, or .osm XML), e.g. from download.geofabrik.de")
        if "encoding" in what or "compressed" in what:  # OSM data, maybe, but not as libosmium reads it
            raise InputError(f"road network {name} is {what}; libosmium reads OSM PBF and OSM XML in UTF-8 "
                             f"(gzip/bzip2-compressed XML too): {fix}")
        raise InputError(f"road network {name} is {what}, not OpenStreetMap data; {fix}")
    named = next((k for k in ("pbf", "osm.gz", "osm.bz2") if name.lower().endswith("." + k.split(".")[-1])), "osm")
    if kind != named:
        renamed = {"pbf": f"{_stem(name)}.osm.pbf", "osm": f"{_stem(name)}.osm"}.get(kind)
        fix = (f"rename it to {renamed}" if renamed else
               f"decompress it (7-Zip, or `{'gzip' if kind == 'osm.gz' else 'bzip2'} -dc {name} > {_stem(name)}_unpacked.osm`)")
        warnings.warn(f"{name} is {_FORMAT_NAMES[kind]}, not {_FORMAT_NAMES[named]} as its name says; read as "
                      f"{_FORMAT_NAMES[kind]}. To silence this, {fix}.", RoadDataWarning, stacklevel=3)
    return osmium.io.File(str(path), kind)


def _to_utf8(name: str, encoding: str, declared: bool) -> str:
    """How to convert an OSM XML file from ``encoding`` to the UTF-8 libosmium reads."""
    then = ", then write encoding='UTF-8' in its first line" if declared else ""
    return (f"convert it to UTF-8 (e.g. `iconv -f {encoding} -t UTF-8 {name} > {_stem(name)}_utf8.osm`{then}), "
            "or save it from JOSM again")


def _first_non_utf8(path: Path) -> tuple[int, bytes] | None:
    """Line number (1-based) and bytes of the first line of an XML file (gzip/bzip2 too) that
    is not UTF-8, or None. Read in 1 MiB chunks, for an error message only."""
    opener = {"osm.gz": gzip.open, "osm.bz2": bz2.open}.get(_sniff(path)[0], open)
    decoder = codecs.getincrementaldecoder("utf-8")()
    line, tail = 1, b""  # tail: the start of the current line, from the chunk before
    with opener(path, "rb") as fh:
        while chunk := fh.read(2**20):
            held = len(decoder.getstate()[0])  # a character's first bytes, carried from the last chunk
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                at = max(exc.start - held, 0)
                start = chunk.rfind(b"\n", 0, at) + 1
                end = chunk.find(b"\n", at)
                text = (tail if start == 0 else b"") + chunk[start:end if end >= 0 else len(chunk)]
                return line + chunk.count(b"\n", 0, at), text
            line += chunk.count(b"\n")
            tail = chunk[chunk.rfind(b"\n") + 1:]
    return None


def _stem(name: str) -> str:
    """A file name without its OSM suffixes (``roads.osm.pbf`` → ``roads``)."""
    for suffix in (".osm.pbf", ".osm.xml", ".osm.gz", ".osm.bz2", ".pbf", ".osm", ".xml"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


#: libosmium's longest key, value or role (``max_osm_string_length``, 256 × 4 bytes of UTF-8);
#: OSM itself allows 255 characters.
MAX_TAG_BYTES = 1024


def _overlong_tags(path: Path, kind: str, limit: int = 5) -> list[str]:
    """The first ``limit`` tags of ``path`` whose key or value is longer than
    :data:`MAX_TAG_BYTES`, as ``"way 77: note=… (1,100 bytes)"`` (read in Python: libosmium
    stops at the first one without naming it). Only called once libosmium has refused."""
    found: list[str] = []
    if kind == "pbf":
        for obj, key, value in _pbf_tags_over(path, MAX_TAG_BYTES):
            found.append(_overlong_text(obj, key, value))
            if len(found) == limit:
                break
        return found
    import xml.etree.ElementTree as ET

    opener = {"osm.gz": gzip.open, "osm.bz2": bz2.open}.get(kind, open)
    with opener(path, "rb") as fh:
        parent = ""
        for event, elem in ET.iterparse(fh, events=("start", "end")):
            if event == "start" and elem.tag in ("node", "way", "relation"):
                parent = f"{elem.tag} {elem.get('id')}"
            elif event == "end" and elem.tag == "tag":
                key, value = (elem.get("k") or "").encode(), (elem.get("v") or "").encode()
                if max(len(key), len(value)) > MAX_TAG_BYTES:
                    found.append(_overlong_text(parent, key, value))
                    if len(found) == limit:
                        break
            elif event == "end" and elem.tag in ("node", "way", "relation"):
                elem.clear()  # streamed: the file is never held whole
    return found


def _overlong_text(obj: str, key: bytes, value: bytes) -> str:
    """One overlong tag for a message: object, key (shortened) and both lengths in bytes."""
    def short(text: bytes) -> str:
        shown = text.decode("utf-8", "replace")
        return shown[:40] + "…" if len(shown) > 40 else shown

    return f"{obj}: {short(key)}={short(value)} (key {len(key):,} bytes, value {len(value):,} bytes)"


def _pbf_tags_over(path: Path, limit_bytes: int) -> Iterator[tuple[str, bytes, bytes]]:
    """(object, key, value) of every tag of an OSM PBF file with a key or value over
    ``limit_bytes``, for the error path only: the blocks are decoded by the PBF format's own
    protobuf messages (shipped with pyrosm, a dependency); blocks without an overlong string
    are not looked into further."""
    from pyrosm.proto import fileformat_pb2, osmformat_pb2

    with open(path, "rb") as fh:
        while len(size := fh.read(4)) == 4:
            header = fileformat_pb2.BlobHeader.FromString(fh.read(struct.unpack(">I", size)[0]))
            blob = fileformat_pb2.Blob.FromString(fh.read(header.datasize))
            if header.type != "OSMData":
                continue
            data = blob.raw or (zlib.decompress(blob.zlib_data) if blob.HasField("zlib_data") else b"")
            block = osmformat_pb2.PrimitiveBlock.FromString(data)
            strings = block.stringtable.s
            if not any(len(s) > limit_bytes for s in strings):
                continue
            for group in block.primitivegroup:
                # dense nodes: delta-coded ids; keys_vals runs, each node's ended by 0
                ids, keys_vals, node, j = np.cumsum(group.dense.id), group.dense.keys_vals, 0, 0
                while j < len(keys_vals):
                    if keys_vals[j] == 0:
                        node, j = node + 1, j + 1
                        continue
                    key, value = strings[keys_vals[j]], strings[keys_vals[j + 1]]
                    if max(len(key), len(value)) > limit_bytes:
                        yield f"node {ids[node]}", key, value
                    j += 2
                for kind, objects in (("node", group.nodes), ("way", group.ways), ("relation", group.relations)):
                    for obj in objects:
                        for k, v in zip(obj.keys, obj.vals):
                            if max(len(strings[k]), len(strings[v])) > limit_bytes:
                                yield f"{kind} {obj.id}", strings[k], strings[v]


def raise_if_overlong(path: Path, exc: Exception) -> None:
    """libosmium's "OSM tag value is too long" (XML) or "overlong string in string table"
    (PBF) as an :class:`InputError` naming the objects, keys and lengths, with the fix."""
    if "too long" not in str(exc) and "overlong" not in str(exc):
        return
    found = _overlong_tags(path, _sniff(path)[0])
    listed = "; ".join(found) if found else "(not found again in Python: a relation member role?)"
    raise InputError(f"could not read {path.name}: it holds tags longer than the {MAX_TAG_BYTES:,} bytes libosmium "
                     f"reads (OSM allows 255 characters): {listed}. Shorten or delete these tags where the file "
                     "was made (e.g. leave that column out when converting to OSM, or edit them in JOSM) and "
                     "give the file again") from None


def raise_if_malformed(path: Path, exc: Exception) -> None:
    """libosmium's parse errors as an :class:`InputError` with the fix: a file that ends early
    (an interrupted download or copy), XML whose text is not UTF-8 (GBK saved without an
    encoding declaration, or declared UTF-8: the line, read as GBK, and the iconv fix), XML
    that is not well-formed (the line and column)."""
    text = str(exc)
    if "PBF error" in text and ("EOF" in text or "truncated" in text):
        raise InputError(f"could not read {path.name}: it ends early ({text}), as a download or copy that was "
                         "interrupted does; download or copy it again") from None
    if "XML parsing error" in text and (found := _first_non_utf8(path)):
        line, raw = found
        try:  # OSM XML in China that is not UTF-8 is GBK (GB2312 is a subset; GB18030 a superset)
            shown = raw.decode("gb18030").strip()
        except UnicodeDecodeError:
            raise InputError(f"could not read {path.name}: {text}; its text is not UTF-8 there (line {line:,}), in "
                             "no encoding geoaccess knows: save it again as UTF-8 (JOSM, osmium)") from None
        shown = shown if len(shown) <= 80 else shown[:80] + "…"
        raise InputError(f"could not read {path.name}: its text is not UTF-8 at line {line:,}, which reads as GBK "
                         f"({shown}); libosmium reads OSM XML in UTF-8 only: "
                         f"{_to_utf8(path.name, 'GBK', declared=False)}") from None
    if "XML parsing error" in text:
        cut = "unclosed token" in text or "no element found" in text
        raise InputError(f"could not read {path.name}: {text}; "
                         + ("it ends early, as an interrupted download does: download it again" if cut else
                            "the file is not well-formed OSM XML there: correct that line, or export the data "
                            "again (JOSM, Overpass, osmium)")) from None


def raise_if_nodes_misplaced(path: Path, source: Any, missing_ids: np.ndarray) -> None:
    """Nodes of roads libosmium could not place (``missing_ids``) although the file may hold
    them: negative ids (objects drawn in JOSM and saved before upload, which libosmium's
    location index does not keep) or nodes stored after the ways (an unsorted file). Only
    called when some nodes are missing: one more pass over the file's nodes, in C++.

    Raises
    ------
    InputError
        Either case, with the fix; nodes truly absent (an extract's edge) raise nothing.
    """
    import osmium

    negative = missing_ids[missing_ids < 0]
    if negative.size:
        one = negative.size == 1
        raise InputError(f"could not read {path.name}: {counted(negative.size, 'node')} of its roads "
                         f"{'has a negative id' if one else 'have negative ids'} (node "
                         f"{negative[0]} …), as objects drawn in JOSM and saved before upload have; geoaccess cannot "
                         f"place {'it' if one else 'them'}. Give {'it a positive id' if one else 'them positive ids'} "
                         f"first: `osmium renumber {path.name} -o renumbered.osm.pbf` (osmium-tool), and give that file")
    nodes = osmium.FileProcessor(source, osmium.osm.NODE).with_filter(osmium.filter.IdFilter(missing_ids.tolist()))
    found = sum(1 for _ in nodes)
    if found:
        raise InputError(f"could not read {path.name}: {counted(found, 'node')} its roads use "
                         f"{'comes' if found == 1 else 'come'} after those roads in the file "
                         "(it is not sorted: nodes, then ways, then relations, each by id); sort it first, e.g. "
                         f"`osmium sort {path.name} -o sorted.osm.pbf` (osmium-tool), and give the sorted file")

