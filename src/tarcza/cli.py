"""``tarcza``: serve, jobs, db, demo, hash, scan, audit, evidence, keys, bank, partner, agency,
user.

Every command receives ``services``: called, it builds the application through the one
composition root (``tarcza.app``) the first time, from settings read once after the command line
has decided what this process is; ``services.database()`` gives the application's database
alone, made as the root makes it (``schema.registry.application_database``), for the commands
that need nothing else (``bank``: importing the whole application cost each a second or two).
Commands that need no application (``hash``, ``audit verify-export``) never build one; what was
built is closed when the command ends.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import socket
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tarcza.config import ConfigError, Keys, Settings, load_settings
from tarcza.crypto import KeyRing
from tarcza.services import Services, ServicesFactory
from tarcza.store.engine import Database


def _serve(args: argparse.Namespace, services: ServicesFactory) -> int:
    """Serve the web application; with the SQLite queue (or TARCZA_JOBS_IN_PROCESS) this
    process also runs the job worker, since no worker elsewhere can reach that queue."""
    import logging.config

    # The saved PDQ index is read from disk (when not in the page cache already) while the
    # application's modules are imported.
    settings = load_settings()
    _prefetch_index(Path(settings.var_dir) / "index")

    import uvicorn

    from tarcza import app as root
    from tarcza.web.middleware import AccessLog

    application = root.build(settings)
    in_process = application.settings.jobs_in_process
    if in_process is None:
        in_process = application.settings.jobs_url == ""
    worker = application.worker() if in_process else None
    common: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_level": args.log_level,
        "log_config": _log_config(args.log_level),
        # uvicorn's access log ties the client address to every path, a reference and a new
        # report included: tarcza's own (web.middleware.AccessLog) keeps reporters private.
        "access_log": False,
        # Forwarded headers count only from the proxies named in TARCZA_TRUSTED_PROXIES (none
        # by default): trusted from anywhere else, a rotated X-Forwarded-For resets the
        # per-client limits.
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": ",".join(settings.trusted_proxies) or None,
        "server_header": False,
        # Named, not left to "auto": uvloop's loop and httptools' parser (both pinned, through
        # uvicorn[standard]) are what bench/lookup_http.py measures.
        "loop": "uvloop",
        "http": "httptools",
    }
    if worker is not None:
        worker.start()
    try:
        if args.workers > 1:
            # Each uvicorn worker process builds its own application from the environment.
            _run_workers(args.workers, common)
        else:
            # The matcher loads its index while the web application is put together (the
            # lifespan's own start_refreshing then finds it running); its log lines need the
            # logging that uvicorn.run would set up only later.
            logging.config.dictConfig(common["log_config"])
            application.matcher.start_refreshing()
            web = root.web(application, close_on_shutdown=False, freeze=True)
            uvicorn.run(AccessLog(web, keyed_hash=application.keyring.keyed_hash), **common)
    finally:
        if worker is not None:
            worker.stop()
        application.checkpoint_audit(at_shutdown=True)
        application.close()
    return 0


def _run_workers(workers: int, options: dict[str, Any]) -> None:
    """uvicorn's supervisor over ``workers`` processes, each listening on a socket of its own.

    uvicorn binds one socket and every worker accepts from it: whichever worker wakes first
    accepts every connection waiting (uvloop accepts until none is left), so a burst of clients
    opening keep-alive connections at once all land on one worker, and one core serves them
    while the other idles (32 of 32 connections, measured; issue 16). Here each worker binds
    its own socket to the address with ``SO_REUSEPORT`` and the kernel spreads new connections
    over the workers' sockets by a hash of the client's address and port. A worker that dies
    takes its socket with it (the connections waiting on it are reset, new ones go to the
    others) and its replacement binds a new one. The supervisor's own socket, bound first (a
    taken address fails here, once), never listens: the kernel gives connections only to
    listening sockets. Elsewhere than on Linux (no such spreading), uvicorn's shared socket.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    app = "tarcza.cli:_logged_web_from_environment"
    if not sys.platform.startswith("linux") or not hasattr(socket, "SO_REUSEPORT"):
        uvicorn.run(app, factory=True, workers=workers, **options)
        return
    config = uvicorn.Config(app, factory=True, workers=workers, **options)  # logging set up
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    try:
        reserved = _reuseport_socket(family, (config.host, config.port))
        try:
            claim = _claim_port(reserved.getsockname()[1])
        except OSError:
            reserved.close()
            raise
    except OSError as error:
        logging.getLogger("uvicorn.error").error(error)
        sys.exit(STARTUP_FAILURE)
    with reserved, claim, contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run
        address = reserved.getsockname()[:2]  # the port the system chose for port 0
        shown = f"[{address[0]}]" if family == socket.AF_INET6 else address[0]
        logging.getLogger("uvicorn.error").info(
            "Uvicorn running on http://%s:%d (Press CTRL+C to quit)", shown, address[1]
        )
        Multiprocess(config, sockets=_WorkerSockets(family, address)).run()


STARTUP_FAILURE = 3  # uvicorn's exit status for a server that could not start


class _WorkerSockets(list[socket.socket]):
    """The sockets uvicorn hands each worker: empty here; in a worker (pickled to it by the
    spawn), a new socket bound to ``address`` with ``SO_REUSEPORT``, which the worker listens
    on."""

    def __init__(self, family: int, address: tuple[str, int]) -> None:
        super().__init__()
        self.family = family
        self.address = address

    def __reduce__(self) -> tuple[Any, ...]:
        return (_bound_in_worker, (self.family, self.address, os.getpid()))


def _bound_in_worker(family: int, address: tuple[str, int], supervisor: int) -> list[socket.socket]:
    _end_with(supervisor)
    return [_reuseport_socket(family, address)]


def _end_with(supervisor: int) -> None:
    """Have the kernel end this worker (SIGTERM) when its supervisor ends, however it ends.

    A worker left behind by a supervisor killed outright would keep its own socket listening,
    and the next server's workers would share the port with it, unseen (with one shared
    socket, the next server could not bind). Linux's ``PR_SET_PDEATHSIG``; a supervisor gone
    before it took effect is seen through the parent's pid.
    """
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != supervisor:
        os.kill(os.getpid(), signal.SIGTERM)


def _claim_port(port: int) -> socket.socket:
    """This server's claim on ``port``: a Unix socket in Linux's abstract namespace named
    after it, which only one process at a time can bind and which goes with the process.

    ``SO_REUSEPORT`` lets any process of the same user bind the port again: without the claim
    a second ``tarcza serve --workers N`` on the same port would start without an error and
    take half of the connections (a second ``make run``, an old server left running). A
    server without ``SO_REUSEPORT`` (one worker, another program) is refused by the kernel
    as before, and refuses this one.
    """
    claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        claim.bind(f"\0tarcza-serve-port-{port}")
    except OSError as error:
        claim.close()
        raise OSError(
            errno.EADDRINUSE,
            f"Address already in use: another tarcza serve listens on port {port}",
        ) from error
    return claim


def _reuseport_socket(family: int, address: tuple[str, int]) -> socket.socket:
    """A TCP socket bound to ``address`` (not listening yet) that others may bind as well."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def _prefetch_index(folder: Path) -> threading.Thread | None:
    """Ask the kernel to read the current saved PDQ index under ``folder`` into the page cache,
    in the background (``posix_fadvise(WILLNEED)`` on each of its files, from a thread that is
    returned); None when there is none. The matcher's load then finds the pages there instead
    of waiting for the disk a fault at a time (after a reboot: 0.9 GB at 10M hashes)."""
    from tarcza.hashing.snapshots import current_name

    name = current_name(folder)
    if name is None or not hasattr(os, "posix_fadvise"):
        return None

    def advise() -> None:
        for path in sorted((folder / name).rglob("*.npy")):
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
            except OSError:
                pass
            finally:
                os.close(fd)

    thread = threading.Thread(target=advise, name="tarcza-index-prefetch", daemon=True)
    thread.start()
    return thread


def _logged_web_from_environment() -> Any:
    """The uvicorn factory of ``tarcza serve --workers N``: the web app with the access log."""
    from tarcza import app as root
    from tarcza.web.middleware import AccessLog

    application = root.build()
    application.matcher.start_refreshing()  # loading while the web application is made
    web = root.web(application, freeze=True)
    return AccessLog(web, keyed_hash=application.keyring.keyed_hash)


def _log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, plus the ``tarcza.access`` logger on standard output."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["tarcza_access"] = {"format": "%(asctime)s %(levelname)s %(message)s"}
    config["handlers"]["tarcza_access"] = {
        "formatter": "tarcza_access",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stdout",
    }
    config["loggers"]["tarcza.access"] = {
        "handlers": ["tarcza_access"],
        "level": level.upper(),
        "propagate": False,
    }
    # The matcher says how its PDQ index came to be (loaded, built) and how long it took.
    config["loggers"]["tarcza.matcher"] = {
        "handlers": ["default"],
        "level": level.upper(),
        "propagate": False,
    }
    return config


def _jobs_worker(args: argparse.Namespace, services: ServicesFactory) -> int:
    """Run jobs from the configured queue until SIGINT/SIGTERM."""
    import logging

    from tarcza import app as root

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    application = root.build()
    try:
        application.worker(workers=args.workers, signals=True).run()
    finally:
        application.checkpoint_audit(at_shutdown=True)
        application.close()
    return 0


def _jobs_run_due(_args: argparse.Namespace, services: ServicesFactory) -> int:
    """One pass of the due work, for cron."""
    import json

    from tarcza import app as root
    from tarcza.alerts import tasks as alert_tasks
    from tarcza.hotline.tasks import run_due_once
    from tarcza.store.base import utcnow

    application = root.build()
    try:
        # A child in danger now first: its escalations and notifications.
        alerts = alert_tasks.run_due_once(application.alerts)
        done = run_due_once(application.hotline_work, utcnow())
        print(
            json.dumps(
                {
                    **done,
                    "alerts_escalated": alerts["escalated"],
                    "alert_notifications": alerts["notifications"],
                }
            )
        )
    finally:
        application.close()
    return 0


def _db_upgrade(_args: argparse.Namespace, services: ServicesFactory) -> int:
    from tarcza.schema import migrate

    settings = services().get(Settings)
    migrate.upgrade(settings.resolved_database_url)
    print("database is up to date")
    return 0


def _demo(_args: argparse.Namespace, services: ServicesFactory) -> int:
    from tarcza import app as root
    from tarcza.accounts.demo import load_staff_demo, sign_in_table
    from tarcza.intake.demo import load_demo
    from tarcza.selfprotect.demo import load_protect_demo

    ctx = root.build()
    if ctx.settings.production:
        ctx.close()
        print("tarcza: no demo in production: its staff have a published password", file=sys.stderr)
        return 1
    receipts = load_demo(ctx.intake)
    print(f"{len(receipts)} demo reports are loaded. Try the status page with:")
    for receipt in receipts[:2]:
        print(f"  reference {receipt.reference}  PIN {receipt.pin}  ({receipt.category.value})")
    staff = load_staff_demo(ctx.accounts, ctx.db, ctx.keyring, production=ctx.settings.production)
    print(sign_in_table(staff))
    case, pin, partner_key = load_protect_demo(
        ctx.selfprotect, ctx.db, ctx.keyring, Path(ctx.settings.var_dir)
    )
    print(f"A demo protection case (/protect/status): {case}  PIN {pin}")
    print(f"The demo platform's API key (reads {ctx.settings.selfprotect_bank}): {partner_key}")
    ctx.close()
    return 0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("a number of seconds, 0 or more") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError("a number of seconds, 0 or more")
    return value


def _hash(args: argparse.Namespace, services: ServicesFactory) -> int:
    from tarcza.hashing.service import hash_command

    return hash_command(args.files, sys.stdout, seconds_per_hash=args.seconds_per_hash)


def _scan(args: argparse.Namespace, services: ServicesFactory) -> int:
    from tarcza.hashing.scan import scan_command

    return scan_command(args, services)


def _audit_verify(args: argparse.Namespace, services: ServicesFactory) -> int:
    from tarcza.audit import checkpoint
    from tarcza.audit.service import verify_log

    settings = services().get(Settings)
    path = Path(args.file) if args.file else checkpoint.default_path(settings.var_dir)
    db = services().get(Database)
    held: checkpoint.CheckpointVerdict | str | None = None
    with db.sessions() as session:
        verdict = verify_log(session)
        if path.exists():
            key = services().get(Keys).audit_signing_key
            try:
                held = checkpoint.verify_latest(session, path, key)
            except checkpoint.CheckpointUnreadable as exc:
                held = str(exc)
    code = 0
    if verdict.ok:
        print(f"audit log intact: {verdict.count} entries")
    else:
        print(
            f"audit log BROKEN at entry {verdict.broken_seq}: {verdict.problem} "
            f"({verdict.count} entries before it are intact)"
        )
        code = 1
    if isinstance(held, str):
        print(f"audit log BROKEN: checkpoint unreadable: {held}")
        return 1
    if held is None:
        print(f"no checkpoint at {path}: a cut-off end of the log would not show")
        return code
    cp = held.checkpoint
    if not held.ok:
        print(
            f"audit log BROKEN: checkpoint of {cp.at} (entry {cp.seq}, {cp.count} entries) "
            f"in {path}: {held.problem}"
        )
        return 1
    print(f"checkpoint of {cp.at} holds: entry {cp.seq} and {cp.count} entries are in the log")
    with db.sessions() as session:
        after = checkpoint.unprotected(session, cp)
    print(f"{after} entries after the last checkpoint are not yet protected by one")
    return code


def _audit_checkpoint(args: argparse.Namespace, services: ServicesFactory) -> int:
    from tarcza.audit import checkpoint
    from tarcza.store.base import utcnow

    settings = services().get(Settings)
    key = services().get(Keys).audit_signing_key
    path = Path(args.file) if args.file else checkpoint.default_path(settings.var_dir)
    try:
        cp = checkpoint.take(services().get(Database), key, utcnow())
    except checkpoint.CheckpointRefused as exc:
        print(f"tarcza: no checkpoint written: {exc}", file=sys.stderr)
        return 1
    checkpoint.append(path, cp)
    print(f"checkpoint of entry {cp.seq} ({cp.count} entries) added to {path}")
    return 0


def _audit_export(args: argparse.Namespace, services: ServicesFactory) -> int:
    from tarcza.oversight.export import export_as
    from tarcza.oversight.search import parse_moment
    from tarcza.store.base import utcnow

    try:
        since = parse_moment(args.since) if args.since else None
        until = parse_moment(args.until, end_of_day=True) if args.until else None
    except ValueError as exc:
        print(f"tarcza: --since/--until: {exc}", file=sys.stderr)
        return 2
    if since and until and since >= until:
        print("tarcza: --until must come after --since", file=sys.stderr)
        return 2
    key = services().get(Keys).audit_signing_key
    db = services().get(Database)
    made = export_as(
        db,
        actor="command-line",
        agency=None,
        signing_key=key,
        now=utcnow(),
        since=since,
        until=until,
    )
    out = Path(args.out)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(made.data)
    span = f" (entries {made.first_seq} to {made.last_seq})" if made.count else ""
    print(f"{made.count} audit entries{span} exported, signed, to {out}")
    return 0


def _audit_verify_export(args: argparse.Namespace, services: ServicesFactory) -> int:
    from tarcza.oversight.export import verify_export

    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"tarcza: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    verdict = verify_export(data, args.public_key)
    if not verdict.ok:
        print(f"audit export BROKEN: {verdict.problem}")
        return 1
    span = f" (entries {verdict.first_seq} to {verdict.last_seq})" if verdict.count else ""
    print(f"audit export intact: {verdict.count} entries{span}")
    if verdict.trusted:
        print("signed by the trusted public key")
    else:
        print(
            "WARNING: checked against the public key inside the file only; give --public-key "
            "(from `tarcza audit public-key` on the exporting system) to know who signed it"
        )
    return 0


def _audit_public_key(_args: argparse.Namespace, services: ServicesFactory) -> int:
    from tarcza.oversight.export import public_key_b64

    print(public_key_b64(services().get(Keys).audit_signing_key))
    return 0


def _evidence_export(args: argparse.Namespace, services: ServicesFactory) -> int:
    """Make a report's evidence package for a police officer (who must be allowed to)."""
    from tarcza.accounts.service import AccountService
    from tarcza.cases.evidence_package import DECRYPT_COMMAND, EvidencePackages
    from tarcza.errors import TarczaError

    try:
        officer = services().get(AccountService).acting_as(args.officer)
        made = services().get(EvidencePackages).export(officer, args.reference, args.case_number)
    except TarczaError as exc:
        field = getattr(exc, "field", None)
        message = getattr(exc, "message", None) or exc.detail
        where = f"--{field.replace('_', '-')}: " if field else ""
        print(f"tarcza: {where}{message}", file=sys.stderr)
        return 1
    out = Path(args.out)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(made.data)
    print(f"evidence package of {made.reference} for case {made.case_number} written to {out}")
    print(f"  {made.files} files, {len(made.data)} bytes encrypted, SHA-256 {made.sha256}")
    print(f"  manifest SHA-256 {made.manifest_sha256} (recorded in the audit log)")
    print(f"passphrase (shown once, not stored): {made.passphrase}")
    print(f"decrypt with: {DECRYPT_COMMAND.replace('{file}', str(out))}")
    return 0


def _evidence_verify(args: argparse.Namespace, services: ServicesFactory) -> int:
    """Check a package as a court would: manifest, every file, the signature, the custody."""
    from tarcza.cases.evidence_package import SALT_MAGIC, load_public_key, verify_package

    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"tarcza: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    trusted = None
    if args.public_key:
        try:
            text = args.public_key
            if Path(text).is_file():
                text = Path(text).read_text()
            trusted = load_public_key(text)
        except (OSError, ValueError) as exc:
            print(f"tarcza: --public-key: {exc}", file=sys.stderr)
            return 2
    passphrase = None
    if data.startswith(SALT_MAGIC):
        passphrase = sys.stdin.readline().strip()
        if not passphrase:
            print(
                "tarcza: the package is encrypted: give its passphrase on standard input",
                file=sys.stderr,
            )
            return 2
    verdict = verify_package(data, passphrase, trusted)
    if not verdict.ok:
        print("evidence package BROKEN:")
        for problem in verdict.problems:
            print(f"  {problem}")
        return 1
    print(
        f"evidence package intact: {verdict.files} files match the signed manifest "
        f"(report {verdict.reference}, case {verdict.case_number}, "
        f"{verdict.custody_entries} custody entries whose hashes hold)"
    )
    if verdict.trusted:
        print("signed by the trusted public key")
    else:
        print(
            "WARNING: checked against public_key.pem inside the package only; give "
            "--public-key (from `tarcza evidence public-key` on the exporting system) "
            "to know who signed it"
        )
    return 0


def _evidence_public_key(_args: argparse.Namespace, services: ServicesFactory) -> int:
    from tarcza.cases.evidence_package import public_key_pem

    sys.stdout.write(public_key_pem(services().get(Keys).audit_signing_key).decode("ascii"))
    return 0


def _keys_reseal(_args: argparse.Namespace, services: ServicesFactory) -> int:
    from tarcza.intake.evidence_store import EvidenceStore
    from tarcza.schema.reseal import reseal_all

    keyring = services().get(KeyRing)
    count = reseal_all(services().get(Database), keyring, services().get(EvidenceStore))
    for name, n in sorted(count.resealed.items()):
        print(f"  {name}: {n} sealed again")
    print(
        f"{count.total} blobs sealed again with key {keyring.current_key_id!r}; "
        f"{count.current} were already under it"
    )
    return 0


def _db_grants(args: argparse.Namespace, services: ServicesFactory) -> int:
    from tarcza.schema.grants import apply_grants, grant_statements

    try:
        if args.print:
            print(";\n".join(grant_statements(args.role)) + ";")
            return 0
        n = apply_grants(services().get(Database), args.role)
    except ValueError as exc:
        print(f"tarcza: {exc}", file=sys.stderr)
        return 1
    print(f"{n} grants applied to {args.role}: audit_log is append-only for it")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser."""
    parser = argparse.ArgumentParser(prog="tarcza", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the web pages and the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(func=_serve)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply the migrations").set_defaults(func=_db_upgrade)
    grants = db_sub.add_parser(
        "grants", help="give a PostgreSQL role the application's rights (audit log append-only)"
    )
    grants.add_argument("role", help="an existing PostgreSQL role, e.g. tarcza_app")
    grants.add_argument("--print", action="store_true", help="print the SQL instead of running it")
    grants.set_defaults(func=_db_grants)

    sub.add_parser("demo", help="load invented demo reports and staff").set_defaults(func=_demo)

    hash_ = sub.add_parser(
        "hash", help="print MD5, SHA-256 and PDQ (images) or vPDQ (videos) of files as JSON lines"
    )
    hash_.add_argument("files", nargs="+")
    hash_.add_argument(
        "--seconds-per-hash",
        type=_seconds,
        default=1.0,
        help="videos: hash one frame every this many seconds (0: every frame; default 1)",
    )
    hash_.set_defaults(func=_hash)

    scan = sub.add_parser("scan", help="hash every image under a folder (resumable), match banks")
    scan.add_argument("path", help="the folder, e.g. a seized drive's export")
    scan.add_argument("--bank", action="append", default=[], metavar="NAME", help="match a bank")
    scan.add_argument("--out", default="tarcza-scan.csv", help="results, .csv or .json")
    scan.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    scan.add_argument("--resume", action="store_true", help="go on after an interruption")
    scan.add_argument("--ray", metavar="ADDRESS", help="hash on Ray: auto, ray://host:10001")
    scan.set_defaults(func=_scan)

    audit = sub.add_parser("audit", help="the audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser(
        "verify", help="recompute the hash chain; check the latest checkpoint"
    )
    verify.add_argument("--file", help="checkpoint file (default: var/audit-checkpoints.jsonl)")
    verify.set_defaults(func=_audit_verify)
    checkpoint = audit_sub.add_parser(
        "checkpoint", help="append a signed checkpoint of the log's head to a file"
    )
    checkpoint.add_argument("--file", help="default: var/audit-checkpoints.jsonl")
    checkpoint.set_defaults(func=_audit_checkpoint)
    export = audit_sub.add_parser("export", help="write a signed export of the log (JSON)")
    export.add_argument("--out", required=True, help="the file to write")
    export.add_argument("--since", help="ISO 8601 date or time (UTC when no zone is given)")
    export.add_argument("--until", help="ISO 8601, exclusive; a bare date includes that day")
    export.set_defaults(func=_audit_export)
    verify_export = audit_sub.add_parser(
        "verify-export", help="check a signed export (exit 0 intact, 1 broken)"
    )
    verify_export.add_argument("file")
    verify_export.add_argument(
        "--public-key", metavar="BASE64", help="the exporter's public key, obtained separately"
    )
    verify_export.set_defaults(func=_audit_verify_export)
    audit_sub.add_parser(
        "public-key", help="print the public key that checks exports and checkpoints"
    ).set_defaults(func=_audit_public_key)

    evidence = sub.add_parser("evidence", help="evidence packages for the police and courts")
    evidence_sub = evidence.add_subparsers(dest="evidence_command", required=True)
    ev_export = evidence_sub.add_parser(
        "export", help="write a report's signed, encrypted evidence package (prints a passphrase)"
    )
    ev_export.add_argument("reference", help="the report, e.g. TZ-7K2M-9QXP")
    ev_export.add_argument("--case-number", required=True, help="the police case number")
    ev_export.add_argument(
        "--officer", required=True, help="the police officer (username) the package is made for"
    )
    ev_export.add_argument("--out", required=True, help="the encrypted file to write")
    ev_export.set_defaults(func=_evidence_export)
    ev_verify = evidence_sub.add_parser(
        "verify",
        help="check a package (exit 0 intact, 1 broken); an encrypted one reads its passphrase "
        "from standard input",
    )
    ev_verify.add_argument("file")
    ev_verify.add_argument(
        "--public-key", metavar="PEM_FILE_OR_BASE64", help="the published public key"
    )
    ev_verify.set_defaults(func=_evidence_verify)
    evidence_sub.add_parser(
        "public-key", help="print the public key (PEM) that checks evidence packages"
    ).set_defaults(func=_evidence_public_key)

    keys = sub.add_parser("keys", help="data keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    keys_sub.add_parser(
        "reseal", help="seal every stored secret again with the current data key"
    ).set_defaults(func=_keys_reseal)

    from tarcza.hashing.commands import add_parsers as add_hashing_parsers

    add_hashing_parsers(sub)
    from tarcza.accounts.commands import add_parsers as add_account_parsers

    add_account_parsers(sub)
    from tarcza.coordination.commands import add_parsers as add_coordination_parsers

    add_coordination_parsers(sub)
    jobs = sub.add_parser("jobs", help="background jobs: notices and re-checks")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True)
    worker = jobs_sub.add_parser("worker", help="run jobs from the queue until stopped")
    worker.add_argument("--workers", type=int, default=2)
    worker.set_defaults(func=_jobs_worker)
    jobs_sub.add_parser(
        "run-due", help="send pending notices and re-check what is due, once"
    ).set_defaults(func=_jobs_run_due)
    return parser


class _Root:
    """The ``services`` every command is given (``ServicesFactory``): the application built
    through the composition root on first call, or its database alone (``database()``: made
    as the root makes it, without importing the application). Closes what it made."""

    def __init__(self) -> None:
        self._application: Any = None
        self._database: Database | None = None

    def __call__(self) -> Services:
        if self._application is None:
            from tarcza import app as root

            self._application = root.build()
        services = self._application.services
        assert isinstance(services, Services)
        return services

    def database(self) -> Database:
        if self._application is not None:
            return self().get(Database)
        if self._database is None:
            from tarcza.schema import registry

            self._database = registry.application_database(load_settings())
        return self._database

    def close(self) -> None:
        if self._application is not None:
            self._application.close()
        if self._database is not None:
            self._database.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit code is the command's."""
    args = build_parser().parse_args(argv)
    services = _Root()
    try:
        code: int = args.func(args, services)
    except ConfigError as exc:
        print(f"tarcza: configuration error: {exc}", file=sys.stderr)
        return 2
    finally:
        services.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
