"""Help contacts per country, kept as data (``data/help_<CC>.toml``)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class HelpContact:
    """A number to call, with its name and when to call it, per language."""

    key: str
    number: str
    name: dict[str, str]
    when: dict[str, str]
    urgent: bool = False

    @property
    def tel(self) -> str:
        """The number for a ``tel:`` link."""
        return self.number.replace(" ", "")


@dataclass(frozen=True)
class HelpDirectory:
    """All of a country's help contacts and the name of its hotline."""

    country: str
    contacts: tuple[HelpContact, ...]
    hotline_name: dict[str, str]


@lru_cache(maxsize=8)
def help_directory(country: str) -> HelpDirectory:
    """The help contacts of ``country`` (ISO 3166 alpha-2)."""
    path = resources.files("tarcza.intake") / "data" / f"help_{country.upper()}.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    contacts = tuple(
        HelpContact(
            key=item["key"],
            number=item["number"],
            name=dict(item["name"]),
            when=dict(item["when"]),
            urgent=bool(item.get("urgent", False)),
        )
        for item in data["contact"]
    )
    return HelpDirectory(
        country=country.upper(), contacts=contacts, hotline_name=dict(data["hotline"]["name"])
    )
