"""``tarcza bank ...`` and ``tarcza partner add``: hash banks from the command line."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tarcza.hashing.banks import (
    DEFAULT_PDQ_THRESHOLD,
    BankKind,
    InvalidSignal,
    parse_signal_type,
)
from tarcza.hashing.formats import ExchangeFormat
from tarcza.hashing.vpdq import DEFAULT_COMPARED_MATCH_PCT, DEFAULT_QUERY_MATCH_PCT
from tarcza.services import ServicesFactory
from tarcza.store.engine import Database

Handler = Callable[[argparse.Namespace, ServicesFactory], int]


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in some containers
        return "cli"


@contextmanager
def _database(services: ServicesFactory) -> Iterator[Database]:
    """The application's database alone, the application itself not built (the CLI's root
    closes it)."""
    yield services.database()


def _guarded(handler: Handler) -> Handler:
    """Print a bank error as ``tarcza: field: message`` with exit code 1."""

    def run(args: argparse.Namespace, services: ServicesFactory) -> int:
        from tarcza.hashing.bank_service import BankError, ImportRejected

        try:
            return handler(args, services)
        except ImportRejected as exc:
            for error in exc.errors:
                where = f"{error.line}" if error.line is not None else error.where
                print(f"{args.file}:{where}: {error.code}: {error.message}", file=sys.stderr)
            hidden = exc.error_count - len(exc.errors)
            if hidden:
                print(f"... and {hidden} more", file=sys.stderr)
            print(f"tarcza: {exc.error_count} malformed; nothing imported", file=sys.stderr)
            return 1
        except BankError as exc:
            print(f"tarcza: {exc.field}: {exc.message}", file=sys.stderr)
            return 1

    return run


@_guarded
def _create(args: argparse.Namespace, services: ServicesFactory) -> int:
    from tarcza.hashing import bank_service
    from tarcza.store.base import utcnow

    with _database(services) as db, db.transaction() as session:
        bank = bank_service.create_bank(
            session,
            args.name,
            actor=_actor(),
            now=utcnow(),
            kind=BankKind.ALLOW if args.allow else BankKind.BLOCK,
            source=args.source,
            terms=args.terms,
            pdq_threshold=args.threshold,
            vpdq_query_match_pct=args.vpdq_query_pct,
            vpdq_compared_match_pct=args.vpdq_compared_pct,
        )
    print(
        f"bank {bank.name} created ({bank.kind.value}, PDQ threshold {bank.pdq_threshold}, "
        f"vPDQ {bank.vpdq_query_match_pct:g}% of the video / "
        f"{bank.vpdq_compared_match_pct:g}% of the bank's)"
    )
    return 0


@_guarded
def _list(_args: argparse.Namespace, services: ServicesFactory) -> int:
    from tarcza.hashing import bank_service

    with _database(services) as db, db.sessions() as session:
        rows = bank_service.list_banks(session)
    print(f"{'name':<30} {'kind':<6} {'state':<9} {'pdq≤':>4} {'signals':>9}  source")
    for bank in rows:
        state = "enabled" if bank.enabled else "disabled"
        print(
            f"{bank.name:<30} {bank.kind.value:<6} {state:<9} {bank.pdq_threshold:>4} "
            f"{bank.signal_count:>9}  {bank.source}"
        )
    return 0


@_guarded
def _import(args: argparse.Namespace, services: ServicesFactory) -> int:
    from tarcza.hashing import bank_service
    from tarcza.store.base import utcnow

    bare_type = None
    if args.type is not None:
        if args.format != ExchangeFormat.TE.value:
            print("tarcza: type: --type names the type of bare lines of a te file", file=sys.stderr)
            return 1
        try:
            bare_type = parse_signal_type(args.type)
        except InvalidSignal as exc:
            print(f"tarcza: type: {exc.message}", file=sys.stderr)
            return 1
    try:
        content = Path(args.file).read_bytes().decode("utf-8-sig")
    except OSError as exc:
        print(f"tarcza: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except UnicodeDecodeError:
        print(f"tarcza: {args.file} is not UTF-8 text", file=sys.stderr)
        return 1
    with _database(services) as db:
        result = bank_service.import_file(
            db,
            args.name,
            ExchangeFormat(args.format),
            content,
            actor=_actor(),
            now=utcnow(),
            bare_type=bare_type,
        )
    print(
        f"{result.added} signals added, {result.restored} restored, "
        f"{result.unchanged} already in bank {args.name}"
    )
    if result.skipped:
        counts = ", ".join(f"{what} {count}" for what, count in result.skipped)
        print(f"skipped (tarcza cannot match them): {counts}")
    return 0


@_guarded
def _export(args: argparse.Namespace, services: ServicesFactory) -> int:
    from tarcza.hashing import bank_service

    with _database(services) as db, db.sessions() as session:
        content, skipped = bank_service.export_file(session, args.name, ExchangeFormat(args.format))
    if args.output:
        Path(args.output).write_text(content, encoding="utf-8")
    else:
        sys.stdout.write(content)
    if skipped:
        print(f"tarcza: {skipped} signals cannot be written as {args.format}", file=sys.stderr)
    return 0


def _set_enabled(enabled: bool) -> Handler:
    @_guarded
    def run(args: argparse.Namespace, services: ServicesFactory) -> int:
        from tarcza.hashing import bank_service
        from tarcza.store.base import utcnow

        with _database(services) as db, db.transaction() as session:
            bank_service.set_bank_enabled(
                session, args.name, enabled, actor=_actor(), now=utcnow(), reason=args.reason
            )
        print(f"bank {args.name} {'enabled' if enabled else 'disabled'}")
        return 0

    return run


@_guarded
def _remove(args: argparse.Namespace, services: ServicesFactory) -> int:
    from tarcza.hashing import bank_service
    from tarcza.store.base import utcnow

    try:
        kind = parse_signal_type(args.signal_type)
    except InvalidSignal as exc:
        print(f"tarcza: signal_type: {exc.message}", file=sys.stderr)
        return 1
    with _database(services) as db, db.transaction() as session:
        bank_service.remove_signal(
            session, args.name, kind, args.signal, actor=_actor(), now=utcnow(), reason=args.reason
        )
    print(f"signal removed from bank {args.name}")
    return 0


@_guarded
def _partner_add(args: argparse.Namespace, services: ServicesFactory) -> int:
    from tarcza.crypto import KeyRing
    from tarcza.hashing.partners import create_partner
    from tarcza.store.base import utcnow

    keyring = services().get(KeyRing)
    with _database(services) as db, db.transaction() as session:
        scope, key = create_partner(
            session, keyring, args.name, args.bank, actor=_actor(), now=utcnow()
        )
    print(f"partner {scope.name} added, scoped to: {', '.join(sorted(scope.banks))}")
    print("API key (shown only now; send it as 'Authorization: Bearer <key>'):")
    print(key)
    return 0


def _add_bank_parsers(sub: Any) -> None:
    bank = sub.add_parser("bank", help="hash banks")
    cmds = bank.add_subparsers(dest="bank_command", required=True)
    formats = [f.value for f in ExchangeFormat]

    create = cmds.add_parser("create", help="create an empty bank")
    create.add_argument("name")
    create.add_argument("--source", default="", help="where the signals come from")
    create.add_argument("--terms", default="", help="the sharing terms")
    create.add_argument("--allow", action="store_true", help="an allow-list of benign content")
    create.add_argument("--threshold", type=int, default=DEFAULT_PDQ_THRESHOLD)
    create.add_argument(
        "--vpdq-query-pct",
        type=float,
        default=DEFAULT_QUERY_MATCH_PCT,
        help="vPDQ: %% of a video's frames that must match (default 80)",
    )
    create.add_argument(
        "--vpdq-compared-pct",
        type=float,
        default=DEFAULT_COMPARED_MATCH_PCT,
        help="vPDQ: %% of the bank video's frames that must match (default 0)",
    )
    create.set_defaults(func=_create)

    cmds.add_parser("list", help="list the banks").set_defaults(func=_list)

    imp = cmds.add_parser("import", help="add a file's signals to a bank (all or nothing)")
    imp.add_argument("name")
    imp.add_argument("file")
    imp.add_argument("--format", required=True, choices=formats)
    imp.add_argument(
        "--type",
        help="te: the signal type of bare lines (md5, sha1, sha256, pdq, vpdq; "
        "python-threatexchange's names too); without it a bare line is an error",
    )
    imp.set_defaults(func=_import)

    exp = cmds.add_parser("export", help="write a bank's signals")
    exp.add_argument("name")
    exp.add_argument("--format", required=True, choices=formats)
    exp.add_argument("-o", "--output", help="a file (default: standard output)")
    exp.set_defaults(func=_export)

    for verb, enabled in (("disable", False), ("enable", True)):
        toggle = cmds.add_parser(verb, help=f"{verb} a bank")
        toggle.add_argument("name")
        toggle.add_argument("--reason")
        toggle.set_defaults(func=_set_enabled(enabled))

    remove = cmds.add_parser("remove", help="take one signal out of a bank (audited)")
    remove.add_argument("name")
    remove.add_argument("signal_type")
    remove.add_argument("signal")
    remove.add_argument("--reason")
    remove.set_defaults(func=_remove)


def add_parsers(sub: Any) -> None:
    """Add ``bank`` and ``partner`` to the ``tarcza`` command line's subparsers."""
    _add_bank_parsers(sub)
    partner = sub.add_parser("partner", help="partner platforms of the lookup API")
    cmds = partner.add_subparsers(dest="partner_command", required=True)
    add = cmds.add_parser("add", help="add a partner and print its API key once")
    add.add_argument("name")
    add.add_argument("--bank", action="append", required=True, help="a bank it may match")
    add.set_defaults(func=_partner_add)
