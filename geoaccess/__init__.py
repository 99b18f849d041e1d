"""geoaccess: health-facility accessibility planning on road networks.

Stages, each a module that imports only from the ones before it:
load (``network``, ``facilities``, ``demand``) → ``snapping`` → ``routing`` (travel
times, OD matrices) → ``isochrones`` → ``targets`` → ``gaps`` / ``siting`` →
``maps`` / ``report``; ``pipeline`` runs a scenario end to end and ``cli`` wraps it.
"""

__version__ = "0.1.0"
