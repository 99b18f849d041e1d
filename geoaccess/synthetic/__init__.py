"""Synthetic Chinese county generator for benchmarks, tests and a rural demo.

:func:`generate_county` writes a complete, self-consistent scenario folder from a seed:

=====================  ==================================================================
``roads.osm``          OSM XML (0.6) road network, loadable by ``osmnx.graph_from_xml``
``roads.gpkg``         the same ways as LineStrings (layer ``roads``, EPSG:4326)
``facilities.csv``     health facilities (lon, lat, type, name, beds, doctors, nurses)
``population.tif``     persons per cell, float32, EPSG:4326 (WorldPop-like)
``townships.gpkg``     township units partitioning the county (layer ``townships``)
``scenario.toml``      scenario file pointing at the above with relative paths
=====================  ==================================================================

What the county looks like
--------------------------
* An irregular, star-shaped county polygon of ``area_km2``; the county town sits at
  ``center_lonlat``.
* The county town is a dense, slightly rotated street grid (``primary``/``secondary``/
  ``tertiary`` main streets, ``residential`` side streets, ``service`` dead-end spurs);
  about a third of the side streets in the core are ``oneway=yes`` in either orientation.
* Township seats are smaller grids; administrative villages are small irregular lane
  clusters, clustered around seats; natural villages (hamlets) are short lanes clustered
  around villages.
* The rural network is a subset of the Delaunay triangulation of all settlements (a
  spanning tree plus loops), so it is planar by construction; a road hierarchy is laid on
  it by shortest paths: one ``trunk`` (national road) across the county through the town,
  ``primary`` (provincial) roads to large seats and the border, ``secondary`` county roads
  from the town to every seat, ``tertiary`` township roads from each seat to its villages,
  and ``unclassified``/``track`` village roads (hamlets are often dead ends). Rural roads
  curve (intermediate shape nodes).
* An expressway (``motorway``, a single two-way carriageway) crosses the county and
  passes over every road it crosses without a shared node; it is joined to the network
  only at 1-3 interchanges by ``motorway_link`` ways (one for counties under 400 km²).
* The expressway, the national road and the provincial roads run a few hundred metres
  past the county edge and end there, as in an extract clipped to the county.
* ``maxspeed`` is tagged on the expressway (120), its links (40), the national road (80),
  provincial roads (60), about half the county roads (60), some township roads (40), the
  town's main streets (40) and its side streets (30).
* Every other crossing of two ways is a shared node (the network is planarised after it
  is laid out). The network is one strongly connected component (no deliberate islands).

Coordinates are laid out in metres in an azimuthal equidistant projection centred on the
county town and converted to WGS84 with pyproj. Everything is drawn from
``numpy.random.SeedSequence(seed)``; the same seed gives byte-identical files.
"""

from .county import SyntheticCounty, generate_county
from .region import SyntheticRegion, generate_region

__all__ = ["SyntheticCounty", "SyntheticRegion", "generate_county", "generate_region"]
