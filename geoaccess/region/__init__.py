"""Province scale: every county of a region in one run, on Dask, with cross-border buffers.

A region scenario (TOML) is a county scenario whose ``[scenario]`` section is replaced by
``[region]``, naming the county polygons::

    [region]
    name = "guizhou"
    units = "counties.geojson"     # county polygons
    id = "adcode"                  # id column (unique)
    name_column = "district"       # name column
    crs = "GCJ-02"                 # coordinates of the units file, when its own label is wrong or missing
    buffer_km = 30                 # optional; default below

The ``[network]``, ``[facilities]``, ``[population]`` and ``[admin]`` files are either
province-wide (cut here, once, per county) or per-county file patterns holding ``{id}``
(``roads/{id}.osm.pbf``), used as they are. The targets and every other key are those of
a county scenario.

How a county is cut (:func:`partition`): roads and facilities within ``buffer_km`` of the
county's outline are kept, so a resident served by the neighbour's hospital counts as
covered; people are kept only inside the county (a demand point lies in the first county,
in file order, whose polygon holds it), so every person is counted in one county. The
default buffer is the largest threshold of the targets times the fastest speed of the
modes they use (:func:`default_buffer_km`), capped at :data:`BUFFER_CAP_KM`: any facility
within a target's threshold then lies inside the buffer, so ``share_within`` verdicts are
those of a province-wide network. Each slice is written with a county scenario
(``slices/<id>/scenario.toml``) that ``geoaccess run`` runs as it is; the Dask task per
county (:func:`run_county`) does exactly that, with :func:`geoaccess.pipeline.run_scenario`.
"""

from .config import Region, default_buffer_km, load_region, read_units
from .partition import partition, run_county
from .run import RegionRun, run_region

__all__ = ["Region", "RegionRun", "default_buffer_km", "load_region", "partition", "read_units", "run_county",
           "run_region"]
