"""Languages: Polish by default, English on request; gettext catalogs read with Babel."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from importlib import resources

from babel.dates import format_date as babel_format_date
from babel.messages.pofile import read_po

LANGUAGES = ("pl", "en")
DEFAULT_LANGUAGE = "pl"
COOKIE = "lang"


@dataclass(frozen=True)
class Translator:
    """Translates message ids (English source text) into one language."""

    language: str
    messages: dict[str, str]

    def gettext(self, message: str) -> str:
        """The translation of ``message``, or ``message`` itself when there is none."""
        return self.messages.get(message) or message

    def format(self, message: str, **values: object) -> str:
        """Translate, then fill ``{name}`` placeholders."""
        return self.gettext(message).format(**values)


@lru_cache(maxsize=len(LANGUAGES))
def translator(language: str) -> Translator:
    """The translator for ``language`` (falls back to the default language)."""
    if language not in LANGUAGES:
        language = DEFAULT_LANGUAGE
    po = resources.files("tarcza.web") / "locales" / language / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    messages = {
        str(m.id): str(m.string)
        for m in catalog
        if m.id and isinstance(m.id, str) and m.string and not m.fuzzy
    }
    return Translator(language=language, messages=messages)


def pick_language(query: str | None, cookie: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """The page language: an explicit ``?lang=`` first, then the cookie, then the default."""
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate
    return default


def N_(message: str) -> str:
    """Mark ``message`` for extraction; it is translated where it is shown."""
    return message


def format_day(value: date | datetime, language: str) -> str:
    """A day written out for people in ``language``: "23 listopada 2026", "23 November 2026".

    A datetime is read in UTC (the stored zone), so everyone sees the same day.
    """
    day = value.date() if isinstance(value, datetime) else value
    locale = _DATE_LOCALES[translator(language).language]
    return babel_format_date(day, format="long", locale=locale)


# English as written in Europe: "23 November 2026".
_DATE_LOCALES = {"pl": "pl_PL", "en": "en_GB"}


def label_of(labels: Mapping[str, str], code: object, language: str, fallback: str) -> str:
    """The translated label of a stored ``code`` (an enum or its value), or of ``fallback``.

    One place turns codes into words, so an unknown code never reaches a page raw.
    """
    key = getattr(code, "value", code)
    message = labels.get(str(key), fallback) if key is not None else fallback
    return translator(language).gettext(message)
