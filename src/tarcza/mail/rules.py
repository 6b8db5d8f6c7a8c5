"""Which mail transport and which resolver a deployment uses — pure: no web, database or network.

Two settings choose them (``TARCZA_MAIL``, ``TARCZA_DNS``):

- ``mail``: ``smtp`` hands notices to the SMTP server (``TARCZA_SMTP_*``); ``catch`` keeps them
  in the development mail catcher (``var/mail/``, read on ``/staff/mail``) and sends nothing.
- ``dns``: ``system`` asks the machine's resolver, or ``TARCZA_DNS_NAMESERVERS`` when given;
  ``builtin`` answers only the demo's invented hosts from a table and sends no packet.

Left empty, a development machine stays offline (``catch``, ``builtin``) and production is
real (``smtp``, ``system``) — except that a development setting naming real servers
(``TARCZA_DNS_NAMESERVERS``, an SMTP server) is taken to mean them. Production refuses
``catch`` and ``builtin``: notices would silently never reach a provider, and traces would
find nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

PRODUCTION = "production"
SMTP, CATCH = "smtp", "catch"
SYSTEM, BUILTIN = "system", "builtin"
MAIL_MODES = (SMTP, CATCH)
DNS_MODES = (SYSTEM, BUILTIN)


class OfflineModeRefused(ValueError):
    """A mail or DNS mode that cannot be used: unknown, or offline in production."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting  # the environment variable at fault, e.g. "TARCZA_MAIL"


def resolve_modes(
    env: str,
    mail: str,
    dns: str,
    *,
    nameservers: Sequence[str] = (),
    smtp_configured: bool = False,
) -> tuple[str, str]:
    """The ``(mail, dns)`` modes a deployment runs with.

    ``env``: ``TARCZA_ENV``; ``mail``, ``dns``: the settings as given (any case, ``""`` for
    none); ``nameservers``: ``TARCZA_DNS_NAMESERVERS``; ``smtp_configured``: whether an SMTP
    server was named explicitly (``TARCZA_SMTP_HOST`` or ``TARCZA_SMTP_PORT`` set). An empty
    mode is ``smtp`` / ``system`` in production; in development it is ``catch`` / ``builtin``
    unless real servers were named. Raises :class:`OfflineModeRefused` for an unknown mode or
    an offline mode in production (see :func:`check_offline_modes`).
    """
    production = env.strip().lower() == PRODUCTION
    mail_mode = _known("TARCZA_MAIL", mail, MAIL_MODES)
    dns_mode = _known("TARCZA_DNS", dns, DNS_MODES)
    if not mail_mode:
        mail_mode = SMTP if production or smtp_configured else CATCH
    if not dns_mode:
        dns_mode = SYSTEM if production or any(s.strip() for s in nameservers) else BUILTIN
    check_offline_modes(env, mail_mode, dns_mode)
    return mail_mode, dns_mode


def check_offline_modes(env: str, mail_mode: str, dns_mode: str) -> None:
    """Refuse the development mail catcher and the built-in resolver in production.

    Raises :class:`OfflineModeRefused` naming the setting, with a sentence saying why and
    what to set instead; returns None for every other combination.
    """
    if env.strip().lower() != PRODUCTION:
        return
    if mail_mode == CATCH:
        raise OfflineModeRefused(
            "TARCZA_MAIL",
            "TARCZA_MAIL=catch keeps notices on this machine and sends none: production must "
            "send them (set TARCZA_MAIL=smtp and TARCZA_SMTP_HOST).",
        )
    if dns_mode == BUILTIN:
        raise OfflineModeRefused(
            "TARCZA_DNS",
            "TARCZA_DNS=builtin knows only the demo's invented hosts: production must trace "
            "real ones (set TARCZA_DNS=system, and TARCZA_DNS_NAMESERVERS if need be).",
        )


def _known(setting: str, value: str, modes: tuple[str, ...]) -> str:
    """``value`` folded to lower case; "" stays ""; anything outside ``modes`` is refused."""
    folded = value.strip().lower()
    if folded and folded not in modes:
        choices = " or ".join(modes)
        raise OfflineModeRefused(setting, f"{setting} must be {choices} (or empty), not {value!r}.")
    return folded
