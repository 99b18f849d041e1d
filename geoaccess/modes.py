"""Travel modes and trip directions: the words every stage checks a target or a search
against. Imports nothing, so reading targets (``geoaccess targets``, scenario checks)
does not load the road-network stack."""

MODES = ("walk", "drive", "ambulance")
DIRECTIONS = ("to_facility", "from_facility")
