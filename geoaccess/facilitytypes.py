"""What kind of facility each row is: the vocabulary of kinds, its aliases, the rules for
Chinese names and the official category codes (医疗机构类别, WS 218), all read from
``data/facility_types.toml``.

:func:`classify_facilities` gives every row a kind and says how it was found
(``kind_rule``); :func:`type_warnings` lists every value that matched no kind, with its
count and the targets that would have wanted it, so no facility is left out silently.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING

from ._paths import data_path
from .errors import InputError

if TYPE_CHECKING:  # pandas loads where used: listing the kinds (`geoaccess targets`) does without it
    import pandas as pd

# A kind for facilities the user deliberately leaves out of every target.
OTHER_KIND = "other"
# Trailing bracketed remarks ("县人民医院（东院区）") are not part of the type.
_TRAILING_REMARK = re.compile(r"\s*[(（【\[][^()（）【】\[\]]*[)）】\]]\s*$")
_CODE = re.compile(r"^[A-Z]\d{1,4}$")


@lru_cache(maxsize=1)
def _vocabulary() -> dict:
    with open(data_path("facility_types.toml"), "rb") as fh:
        return tomllib.load(fh)


def load_facility_types() -> dict[str, dict]:
    """The facility vocabulary: kind id -> its table in ``data/facility_types.toml``.

    Returns
    -------
    dict
        ``{kind_id: {"name_zh", "name_en", "tier", "medical_point", "aliases"}}``
        (the file's ``rules`` and ``codes`` tables are not kinds and are left out).
    """
    return {k: dict(v) for k, v in _vocabulary().items() if isinstance(v, dict) and "name_en" in v}


def name_rules() -> list[dict]:
    """The built-in rules for Chinese facility names, in the order they are tried.

    Returns
    -------
    list of dict
        ``{"label", "pattern", "kind"}``: ``pattern`` is a regular expression searched
        in the normalised text (see :func:`normalise_type`), ``label`` how messages name it.
    """
    return [dict(r) for r in _vocabulary().get("rules", [])]


def category_codes() -> dict[str, str]:
    """The WS 218-2002 health-institution category codes geoaccess maps to kinds.

    Returns
    -------
    dict
        ``{code: kind}``; a value matches a code when it equals it or equals it followed
        by two digits (``A1`` matches ``A1`` and ``A100``–``A199``).
    """
    return dict(_vocabulary().get("codes", {}))


def normalise_type(values: pd.Series) -> pd.Series:
    """The form type values are compared in: NFKC (full-width to ASCII), trimmed,
    inner whitespace collapsed, case-folded. Missing values stay missing.

    Parameters
    ----------
    values : pandas.Series
        Raw type (or name) values.

    Returns
    -------
    pandas.Series of string dtype, same index.
    """
    text = values.astype("string")
    text = text.map(lambda v: unicodedata.normalize("NFKC", v), na_action="ignore").astype("string")
    return text.str.strip().str.replace(r"\s+", " ", regex=True).str.casefold()


def check_type_mapping(mapping: Mapping[str, str], where: str = "[facilities.types]") -> dict[str, str]:
    """Check a user's mapping of type values to kinds; return it keyed by normalised value.

    Parameters
    ----------
    mapping : mapping of str to str
        ``{value as written in the type column: kind id}``; the kind may also be
        ``"other"`` (leave those facilities out of every target, knowingly).
    where : str
        Names the setting in messages.

    Returns
    -------
    dict
        ``{normalised value: kind}``.

    Raises
    ------
    InputError
        Naming the key whose kind is unknown (listing the kinds) or not text.
    """
    import pandas as pd

    kinds = list(load_facility_types())
    out: dict[str, str] = {}
    for key, kind in mapping.items():
        if not isinstance(kind, str) or kind not in kinds + [OTHER_KIND]:
            raise InputError(f"{where} {key!r} = {kind!r}: not a facility kind; use one of "
                             f"{', '.join(kinds)} (or {OTHER_KIND!r} to leave those facilities out of every target)."
                             " `geoaccess targets` lists the kinds with their names")
        norm = normalise_type(pd.Series([str(key)])).iloc[0]
        if norm in out and out[norm] != kind:
            raise InputError(f"{where} maps {key!r} to {kind!r}, but a spelling of the same value to {out[norm]!r}; "
                             "keep one")
        out[norm] = kind
    return out


def classify_facilities(types: pd.Series, names: pd.Series | None = None, mapping: Mapping[str, str] | None = None,
                        codes: pd.Series | None = None) -> pd.DataFrame:
    """Vocabulary kind of every facility, and how it was found.

    Tried in order, the first that matches wins:

    1. ``mapping``: the user's own values (``[facilities.types]``);
    2. exact alias: the type equals a kind id or one of its aliases;
    3. category code: the type (or the ``codes`` column) holds a WS 218-2002 code
       listed in ``data/facility_types.toml`` (``A1`` 综合医院, ``B1`` 社区卫生服务中心…);
    4. name rule on the type (``…中心卫生院``, ``…卫生院``, ``…社区卫生服务站``…);
    5. name rule on the facility name, when ``names`` is given and the type did not match.

    Values are compared after :func:`normalise_type`; a trailing bracketed remark is
    ignored by the rules.

    Parameters
    ----------
    types : pandas.Series
        Raw type values.
    names : pandas.Series, optional
        Facility names (same index), for step 5.
    mapping : mapping of str to str, optional
        User values to kinds, as checked by :func:`check_type_mapping`.
    codes : pandas.Series, optional
        A column of category codes (same index), for step 3.

    Returns
    -------
    pandas.DataFrame
        Same index; ``kind`` (kind id, or ``"other"`` when nothing matched) and
        ``kind_rule``: ``"mapping"``, ``"alias"``, ``"code A1"``, ``"type rule …卫生院"``,
        ``"name rule …卫生院"``, or ``"unmatched"``.

    Raises
    ------
    InputError
        If ``mapping`` names an unknown kind.
    """
    import pandas as pd

    norm = normalise_type(types)
    kind = pd.Series(pd.NA, index=types.index, dtype="string")
    rule = pd.Series("unmatched", index=types.index, dtype=object)

    def assign(mask: pd.Series, kinds: pd.Series | str, how: pd.Series | str) -> None:
        todo = mask.fillna(False).astype(bool) & kind.isna()
        kind[todo] = kinds[todo] if isinstance(kinds, pd.Series) else kinds
        rule[todo] = how[todo] if isinstance(how, pd.Series) else how

    if mapping:
        user = check_type_mapping(mapping)
        assign(norm.isin(list(user)), norm.map(user), "mapping")
    pairs = [(str(alias), k) for k, table in load_facility_types().items() for alias in [k, *table.get("aliases", [])]]
    lookup: dict[str, str] = {}
    # One normalise_type call for every alias (one per alias was most of the time here).
    for alias, (_, k) in zip(normalise_type(pd.Series([a for a, _ in pairs], dtype=object)), pairs):
        lookup.setdefault(alias, k)
    assign(norm.isin(list(lookup)), norm.map(lookup), "alias")
    for column in ([normalise_type(codes).str.upper()] if codes is not None else []) + [norm.str.upper()]:
        for code, code_kind in category_codes().items():
            hit = (column == code) | column.str.fullmatch(re.escape(code) + r"\d\d")
            assign(hit, code_kind, f"code {code}")
    for source, text in (("type", norm), ("name", normalise_type(names) if names is not None else None)):
        if text is None:
            continue
        text = text.str.replace(_TRAILING_REMARK, "", regex=True)
        for r in name_rules():
            assign(text.str.contains(r["pattern"], regex=True), r["kind"], f"{source} rule {r['label']}")
    return pd.DataFrame({"kind": kind.fillna(OTHER_KIND).astype(object), "kind_rule": rule}, index=types.index)


def kind_from_type(values: pd.Series) -> pd.Series:
    """Map raw facility type values to vocabulary kind ids.

    A value matches a kind when, normalised (:func:`normalise_type`), it equals the kind
    id or one of its aliases, is one of its category codes, or matches one of the name
    rules (see :func:`classify_facilities`). Values that match nothing (and missing
    values) become ``"other"``.

    Parameters
    ----------
    values : pandas.Series
        Raw type values, e.g. ``"卫生院"``, ``"Hospital "``, ``"village_clinic"``.

    Returns
    -------
    pandas.Series of str
        Kind ids, same index as ``values``.
    """
    return classify_facilities(values)["kind"]


def type_warnings(facilities: pd.DataFrame, wanted: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Messages on facility types: values that match no kind, and kinds found by a rule.

    Parameters
    ----------
    facilities : pandas.DataFrame
        As returned by :func:`facilities_from_file` (``type``, ``kind``, ``kind_rule``).
    wanted : mapping
        ``{target id: facility_types}`` of the targets evaluated; a type value a target
        lists literally is not reported as unmatched.

    Returns
    -------
    list of str
        At most two messages: the unmatched values with their row counts and what each
        target counts, with the fix; and how many rows each mapping, code or rule
        classified. Empty when every row matched an alias.
    """
    if "kind_rule" not in facilities:
        return []
    out = []
    literal = {t.strip().casefold() for types in wanted.values() for t in types}
    raw = facilities["type"].astype("string").str.strip()
    lost = (facilities["kind_rule"] == "unmatched") & ~raw.str.casefold().isin(literal).fillna(False)
    if lost.any():
        counts = raw[lost].fillna("").value_counts()
        listed = [f"{n} row{'s' if n > 1 else ''} typed {v!r}" if v else f"{n} row{'s' if n > 1 else ''} with no type"
                  for v, n in counts.head(10).items()]
        more = f" and {len(counts) - 10} other values" if len(counts) > 10 else ""
        counted = "; ".join(f"{tid} counts {', '.join(types)}" for tid, types in wanted.items())
        example = next((v for v in counts.index if v), None)
        fix = (f"Map them under [facilities.types] in the scenario, e.g. \"{example}\" = \"village_clinic\" "
               f"(`geoaccess targets` lists the kinds; \"{example}\" = \"other\" leaves them out knowingly)."
               if example else "Fill in their type (`geoaccess targets` lists the kinds).")
        out.append(f"{int(lost.sum())} facilit{'y matches' if lost.sum() == 1 else 'ies match'} no facility kind and "
                   f"count{'s' if lost.sum() == 1 else ''} for no target: {', '.join(listed)}{more}. {counted}. {fix}")
    inferred = ~facilities["kind_rule"].isin(["alias", "unmatched"])
    if inferred.any():
        groups = facilities[inferred].groupby(["kind_rule", "kind"], sort=False).size()
        groups = groups.sort_values(ascending=False, kind="stable")
        text = ", ".join(f"{n} by {'your [facilities.types]' if how == 'mapping' else how} → {k}"
                         for (how, k), n in groups.items())
        out.append(f"facility kinds not given by an exact vocabulary name: {text}. Check them; a value mapped "
                   "under [facilities.types] overrides the rules.")
    return out
