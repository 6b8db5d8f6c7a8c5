"""The directory of local services a counsellor refers a child onwards to: a data file per country.

``data/services_<COUNTRY>.toml`` lists ``[[service]]`` entries (id, region, name, kind, city,
phone, hours, url, example); a deployment replaces it with its own. The entries shipped are
invented examples, marked so (``example = true``), and the pages say so.
"""

from __future__ import annotations

import tomllib
from importlib import resources

from tarcza.helpline import rules


def load_directory(country: str) -> list[rules.Service]:
    """The services of ``country``'s file (none when there is no file for it)."""
    path = resources.files("tarcza.helpline") / "data" / f"services_{country.upper()}.toml"
    if not path.is_file():
        return []
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    return rules.parse_services(data, rules.REGIONS_PL if country.upper() == "PL" else ())
