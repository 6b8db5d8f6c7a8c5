"""Languages: Polish by default, English on request; gettext catalogs read with Babel."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

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
