"""Configuration: every setting comes from the environment (prefix ``TARCZA_``).

The embedded default is a SQLite file under ``var/`` and a development key file
generated on first use; production sets ``TARCZA_ENV=production`` and must
supply its keys explicitly.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from limits import parse_many
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(RuntimeError):
    """The configuration cannot be used as given."""


class Settings(BaseSettings):
    """All of tarcza's settings; see README for each."""

    model_config = SettingsConfigDict(env_prefix="TARCZA_", extra="ignore")

    env: str = "development"
    var_dir: Path = Path("var")
    database_url: str = ""
    evidence_dir: Path | None = None
    # "id:base64key,id:base64key" — the first key encrypts, all of them decrypt (rotation).
    data_keys: str = ""
    # Secret for keyed hashes (PINs, idempotency keys); base64, 32 bytes.
    hmac_key: str = ""
    country: str = "PL"
    # Where the public pages' quick exit button leads (a neutral site, in the same tab).
    quick_exit_url: str = "https://www.google.com/"
    default_language: str = "pl"
    max_json_bytes: int = 1024 * 1024
    max_files: int = 10
    max_file_bytes: int = 20 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    # Pixels being decoded at once in a process, all images together (bounds decoding memory).
    decode_pixel_budget: int = Field(default=50_000_000, ge=1)
    # Multipart bodies streamed into evidence storage at once per process; others wait.
    max_concurrent_uploads: int = Field(default=4, ge=1)
    # Seconds an upload waits for a slot before a 429 with Retry-After.
    upload_wait_seconds: float = Field(default=120.0, ge=0)
    # Audit checkpoints written by themselves (signed, outside the database): after this many
    # new entries, or when an entry is new and the last checkpoint is this many minutes old.
    audit_checkpoint_every_entries: int = Field(default=1000, ge=1)
    audit_checkpoint_every_minutes: float = Field(default=60.0, ge=0)
    pin_max_failures: int = 5
    pin_lock_seconds: int = 900
    # Rates, in the `limits` notation "N/unit;N/unit" ("" = no limit), counted once for every
    # process in the rate store. New reports: per client network (an IPv4 address, an IPv6
    # /64), over all public clients together, and per partner platform reporting with its key
    # (a quota of its own, outside the public ones).
    report_rate_per_client: str = "5/minute;20/hour;50/day"
    report_rate_overall: str = "120/minute;2000/hour"
    report_rate_per_partner: str = "600/minute;50000/day"
    # Partner lookups: signals (a batch counts each) per partner key.
    partner_lookup_rate: str = "200/second;200000/hour"
    # Partner lookups' staleness bound, in seconds: a web process's matcher catches up from a
    # background thread (every half of it), so a signal added or a bank enabled is answered
    # within it — and by the /m/ lookups (answered from memory) a signal removed or a bank
    # disabled no longer after it — and a partner key's scope is kept in memory for it, so a
    # key disabled or re-scoped takes effect within it. 0: every lookup reads the database
    # (slow; tests).
    lookup_staleness_seconds: float = Field(default=1.0, ge=0, le=60)
    # A partner's CyberTipline-shaped report (/ispws) not finished within this many hours is
    # deleted with its files by the worker's tick (audited).
    ispws_expire_hours: float = Field(default=24.0, gt=0)
    # Where the counts live: "" = the database; "redis://host:port/db" = Redis.
    rate_store: str = ""
    # Self-protection (hashes from the person's own device): the bank they are shared in, new
    # cases and additions per network and per device, items per case, and after how many
    # unrelated cases one hash waits for a supervisor (a meme, a stock photo).
    selfprotect_bank: str = "SELF_PROTECTION"
    selfprotect_rate_per_network: str = "10/hour;30/day"
    selfprotect_rate_per_device: str = "5/hour;20/day"
    selfprotect_max_items: int = Field(default=50, ge=1, le=1000)
    selfprotect_review_after_cases: int = Field(default=3, ge=2)
    # The child helpline's records, kept this many days: a contact not in any case from when it
    # was recorded; a closed case (its contacts and timeline with it) from when it was closed.
    # The worker's tick deletes what has run out (HelplineService.expire), audited per batch.
    helpline_contact_retention_days: int = Field(default=365, ge=1)
    helpline_case_retention_days: int = Field(default=5 * 365, ge=1)
    # Connections each process keeps open, and how many more it may open under load (closed as
    # soon as they come back to a full pool). A server worker submits a report per connection at
    # once: with 10 kept, 16 clients a worker opened a new PostgreSQL connection for 8 % of their
    # reports (a backend started, its caches filled, its statements prepared again; issue 16).
    db_pool_size: int = 20
    db_max_overflow: int = 10
    # Plain JSON reports a server process submits at once (intake.fast_path); more wait in the
    # process. Each holds a connection, and its audit entry waits for the chain's lock: a few
    # at once keep the database busy, many only queue there (issue 16, bench/README.md).
    intake_threads: int = Field(default=3, ge=1, le=64)
    trusted_proxies: list[str] = Field(default_factory=list)
    # The agency whose queue new public reports join (an agency code).
    intake_agency: str = "hotline"
    # Staff sessions: minutes idle, hours in all; failed logins before a lock-out.
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    login_max_failures: int = 5
    login_lock_minutes: int = 15
    # Evidence revealed unblurred stays viewable this many seconds.
    reveal_seconds: int = 120
    # Agencies (codes) whose auditors read every agency's audit entries; any other auditor reads
    # their own agency's only (an export shows other agencies' entries as hashes only).
    oversight_agencies: list[str] = Field(default_factory=list)
    # Base64 Ed25519 private key (32 bytes) that signs audit exports.
    audit_signing_key: str = ""

    # --- a child in danger now ---
    # The police duty desk's e-mail addresses, in escalation order (JSON list): the first is
    # told at once, the next when no one acknowledged within duty_escalate_minutes. Empty in
    # development: the demo desk (DEMO_DUTY_CONTACT), whose mail the catcher shows.
    duty_contacts: list[str] = Field(default_factory=list)
    duty_escalate_minutes: float = 10.0
    # An optional webhook told too (POST JSON, HMAC-SHA256 in X-Tarcza-Signature with the secret).
    duty_webhook_url: str = ""
    duty_webhook_secret: str = ""
    # Seconds before a notification that failed is tried again, and how many tries in all.
    duty_retry_seconds: float = 30.0
    duty_max_tries: int = 20
    # Where staff open tarcza: the link a notification carries.
    staff_url: str = "http://127.0.0.1:8000"

    # --- hotline workflow ---
    # The bank that the hashes of evidence the hotline confirms illegal join, labelled with the
    # report (and the partner platform) they came from; "" = confirming adds to no bank.
    confirmed_bank: str = "HOTLINE_CONFIRMED"
    # A "not illegal" finding waits for a second analyst before the item closes.
    second_review_not_illegal: bool = True
    # The agency that receives the hotline's police referrals (an agency code).
    police_agency: str = "police"

    # --- the coordinator's national figures ---
    # A count below this shows as "<5" (with secondary suppression so it cannot be worked
    # out from totals): tarcza.coordination.rules.
    suppress_below: int = Field(default=5, ge=2, le=100)
    # A window's figures are served from its snapshot while younger than this; the worker's
    # tick refreshes the snapshots of the windows asked for in the last day (0: always count).
    figures_max_age_minutes: int = Field(default=15, ge=0)
    # Where notices go: "smtp" (the SMTP server below), "catch" (kept under var/mail and shown
    # at /staff/mail: development only); "" = catch in development unless an SMTP host or port
    # is set, smtp in production (tarcza.mail.rules.resolve_modes).
    mail: str = ""
    # How the trace and the monitor resolve names: "system" (the machine's resolver, or
    # dns_nameservers), "builtin" (the demo's hosts only, no packet sent: development only);
    # "" = builtin in development unless nameservers are named, system in production.
    dns: str = ""
    # DNS servers for the hosting trace and the monitor, "host" or "host:port";
    # empty: the system's resolver.
    dns_nameservers: list[str] = Field(default_factory=list)
    dns_timeout_seconds: float = 3.0
    # Notices go out through this SMTP server, from this address, signed with this name.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_timeout_seconds: float = 10.0
    notice_from: str = "dyzurnet@example.org"
    hotline_name: str = "Dyżurnet.pl (NASK)"
    # A notice left "sending" this long (seconds) is presumed interrupted between the SMTP
    # hand-off and its record, and is sent again with the same Message-ID; must outlast the
    # slowest SMTP hand-off.
    notice_lease_seconds: float = 300.0
    # Minutes before retry 1, 2, … of a notice after a passing failure (no server, 4xx);
    # the last value repeats.
    notice_retry_minutes: list[float] = Field(default_factory=lambda: [1.0, 5.0, 15.0, 60.0])
    # Hand-offs before a notice that keeps failing for passing reasons is marked failed.
    notice_max_tries: int = 10
    # Re-checks of actioned URLs: hours to wait before check 1, 2, …; the last repeats.
    monitor_backoff_hours: list[float] = Field(default_factory=lambda: [1.0, 4.0, 12.0, 24.0])
    # Least hours between the two "gone" answers that confirm a removal (one answer is never
    # enough: a host can be down for an hour).
    monitor_confirm_hours: float = 4.0
    # Still online this many days after the notice: escalate to a supervisor, re-send.
    monitor_escalate_days: float = 3.0
    monitor_timeout_seconds: float = 10.0
    monitor_max_bytes: int = 64 * 1024 * 1024
    # Fetching private, loopback or link-local addresses is refused (SSRF) unless this is set;
    # only tests, whose web server is on 127.0.0.1, set it.
    monitor_allow_private: bool = False
    # The job queue: "" = a SQLite file under var/ (no extra server), "redis://host:port/db"
    # for workers across machines, "memory" = run each job at once in-process (tests).
    jobs_url: str = ""
    # The queue's name: deployments (or test runs) sharing one Redis keep apart by it.
    jobs_queue: str = "tarcza"
    # Whether ``tarcza serve`` runs a job worker in its own process; unset: yes exactly when
    # the queue is the SQLite file (no worker elsewhere could reach it).
    jobs_in_process: bool | None = None
    # How often a worker looks for due work (notices to send, URLs to re-check), in seconds.
    jobs_tick_seconds: float = 60.0

    @field_validator(
        "report_rate_per_client",
        "report_rate_overall",
        "report_rate_per_partner",
        "partner_lookup_rate",
        "selfprotect_rate_per_network",
        "selfprotect_rate_per_device",
    )
    @classmethod
    def _rates(cls, value: str) -> str:
        # Checked at start: a typo must not leave the service without its limits.
        if value.strip().lower() not in {"", "none"}:
            try:
                parse_many(value)
            except ValueError:
                raise ValueError(
                    f"{value!r} is not a rate: write N/unit, e.g. 5/minute;20/hour "
                    "(units: second, minute, hour, day), or leave it empty for no limit"
                ) from None
        return value

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'tarcza.sqlite3').resolve()}"

    @property
    def resolved_evidence_dir(self) -> Path:
        return self.evidence_dir or self.var_dir / "evidence"

    @property
    def max_multipart_bytes(self) -> int:
        return self.max_files * self.max_file_bytes + self.max_json_bytes


@dataclass(frozen=True)
class Keys:
    """Secret keys: data keys by id (first one current) and the HMAC key."""

    data_keys: dict[str, bytes]
    current_key_id: str
    hmac_key: bytes
    audit_signing_key: bytes = b""


def _parse_data_keys(spec: str) -> tuple[dict[str, bytes], str]:
    keys: dict[str, bytes] = {}
    first = ""
    for part in spec.split(","):
        key_id, sep, b64 = part.strip().partition(":")
        if not sep or not key_id:
            raise ConfigError("TARCZA_DATA_KEYS must be 'id:base64key[,id:base64key...]'")
        raw = base64.b64decode(b64, validate=True)
        if len(raw) != 32:
            raise ConfigError(f"data key {key_id!r} must be 32 bytes")
        keys[key_id] = raw
        first = first or key_id
    return keys, first


def _dev_key_file(settings: Settings) -> dict[str, str]:
    """Load or create ``var/keys.json`` (development only, mode 0600)."""
    path = settings.var_dir / "keys.json"
    if path.exists():
        loaded: dict[str, str] = json.loads(path.read_text())
        return loaded
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    content = {
        "data_keys": "dev1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "hmac_key": base64.b64encode(secrets.token_bytes(32)).decode(),
        "audit_signing_key": base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(content, fh)
    return content


def load_keys(settings: Settings) -> Keys:
    """Keys from the environment, or in development from a generated key file."""
    data_spec, hmac_b64 = settings.data_keys, settings.hmac_key
    signing_b64 = settings.audit_signing_key
    if not (data_spec and hmac_b64 and signing_b64):
        if settings.production:
            raise ConfigError(
                "production needs TARCZA_DATA_KEYS, TARCZA_HMAC_KEY and TARCZA_AUDIT_SIGNING_KEY"
            )
        dev = _dev_key_file(settings)
        data_spec = data_spec or dev["data_keys"]
        hmac_b64 = hmac_b64 or dev["hmac_key"]
        # Key files made before audit exports were signed lack the key: derive one.
        signing_b64 = signing_b64 or dev.get("audit_signing_key") or _derived_key(hmac_b64)
    keys, current = _parse_data_keys(data_spec)
    hmac_key = base64.b64decode(hmac_b64, validate=True)
    if len(hmac_key) < 32:
        raise ConfigError("TARCZA_HMAC_KEY must be at least 32 bytes")
    signing_key = base64.b64decode(signing_b64, validate=True)
    if len(signing_key) != 32:
        raise ConfigError("TARCZA_AUDIT_SIGNING_KEY must be 32 bytes (an Ed25519 private key)")
    return Keys(
        data_keys=keys, current_key_id=current, hmac_key=hmac_key, audit_signing_key=signing_key
    )


def _derived_key(hmac_b64: str) -> str:
    digest = hashlib.sha256(b"tarcza-dev-audit-signing\x00" + base64.b64decode(hmac_b64)).digest()
    return base64.b64encode(digest).decode()


def load_settings(**overrides: object) -> Settings:
    """Settings read from the environment now, ``overrides`` on top.

    Only the composition root (``tarcza.app``) and the command line call this, once per
    process, after the command has decided the process's role; nothing caches it.
    """
    return Settings(**overrides)  # type: ignore[arg-type]
