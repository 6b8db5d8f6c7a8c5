"""The MNR's domains and capabilities as shipped (``data/capabilities.toml``), to seed the tracker.

The file is data, not code: the names in it are the starting wording; the coordinator edits
them in the tracker afterwards. Agency codes in it are the default deployment's and are mapped
to the deployment's own (``codes``) when the tracker is seeded.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from tarcza.mnr import rules


@dataclass(frozen=True)
class DomainSeed:
    code: str
    position: int
    name_pl: str
    name_en: str


@dataclass(frozen=True)
class CapabilitySeed:
    number: int
    domain: str
    name_pl: str
    name_en: str
    description_pl: str
    description_en: str
    agencies: tuple[str, ...]
    institutions: tuple[str, ...]


@dataclass(frozen=True)
class Catalogue:
    domains: tuple[DomainSeed, ...]
    capabilities: tuple[CapabilitySeed, ...]


def load_catalogue(codes: Mapping[str, str] | None = None) -> Catalogue:
    """The shipped catalogue, with agency codes mapped through ``codes``."""
    with (resources.files("tarcza.mnr") / "data" / "capabilities.toml").open("rb") as fh:
        return parse_catalogue(tomllib.load(fh), codes or {})


def parse_catalogue(data: Mapping[str, Any], codes: Mapping[str, str]) -> Catalogue:
    """Check the file's shape: 21 capabilities numbered 1–21, each in a domain listed."""
    domains = tuple(
        DomainSeed(d["code"], i, d["name"]["pl"], d["name"]["en"])
        for i, d in enumerate(data["domains"], start=1)
    )
    known = {d.code for d in domains}
    capabilities = tuple(
        CapabilitySeed(
            number=int(c["number"]),
            domain=c["domain"],
            name_pl=c["name"]["pl"],
            name_en=c["name"]["en"],
            description_pl=c["description"]["pl"],
            description_en=c["description"]["en"],
            agencies=tuple(sorted({codes.get(a, a) for a in c.get("agencies", [])})),
            institutions=tuple(c.get("institutions", [])),
        )
        for c in data["capabilities"]
    )
    numbers = [c.number for c in capabilities]
    if numbers != list(rules.NUMBERS):
        raise ValueError(f"the capabilities must be numbered 1 to 21 in order, not {numbers}")
    strays = sorted({c.domain for c in capabilities} - known)
    if strays:
        raise ValueError(f"capabilities in domains not listed: {strays}")
    return Catalogue(domains, capabilities)
