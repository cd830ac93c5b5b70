"""Administrative subcommands of ``python -m server`` (``python -m server --help`` lists them).

A command is (help, add_arguments, run): ``run`` gets the services of a normal
start-up (settings, database, indexes) and returns the exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic import ValidationError

from server.backup import BackupError, backup, restore
from server.errors import AppError
from server.migrations.runner import MigrationRunner
from server.migrations.steps import STEPS
from server.models.accounts import StaffCreate
from server.services.accounts.totp import CONTEXT as TOTP_CONTEXT
from server.services.accounts.totp import code_at
from server.services.container import Services, start_jobs
from server.services.pii_migration import migrate as migrate_pii

log = logging.getLogger("server.worker")

Command = tuple[
    str,
    Callable[[argparse.ArgumentParser], None],
    Callable[[Services, argparse.Namespace], Awaitable[int]],
]


def _staff_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--username", required=True, help="login name: lowercase letters, digits, . _ -")
    parser.add_argument("--role", required=True, choices=["admin", "reviewer", "scanner"],
                        help="admin: everything; reviewer: payments, results; scanner: check-in")
    parser.add_argument("--name", help="display name (default: the username)")
    parser.add_argument("--password-stdin", action="store_true",
                        help="read the password from standard input instead of a prompt")


async def _create_staff(services: Services, args: argparse.Namespace) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("密码 / password: ")
        if password != getpass.getpass("再次输入 / again: "):
            print("两次输入的密码不一致 / passwords differ", file=sys.stderr)
            return 1
    try:
        body = StaffCreate(username=args.username, role=args.role, name=args.name or args.username,
                           password=password)
        account_id = await services.accounts.create_staff(body)
    except ValidationError as exc:
        print(f"输入有误 / invalid: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}", file=sys.stderr)
        return 1
    except (AppError, ValueError) as exc:
        print(f"无法创建 / cannot create: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 1
    print(f"已创建协会账号 / staff account created: {args.username} ({args.role}) id={account_id}")
    return 0


def _account_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--account", required=True, help="ID number, USCC or staff username, as its owner logs in")


def _set_disabled(disabled: bool) -> Callable[[Services, argparse.Namespace], Awaitable[int]]:
    """disable-account / enable-account: audited as an admin without an actor id (like create-staff)."""
    async def run(services: Services, args: argparse.Namespace) -> int:
        account = await services.accounts.find_by_login(args.account)
        try:
            if account is None:
                raise AppError(404, "not_found", "账号不存在")
            await services.accounts.set_disabled(account["_id"], disabled, by=None)
        except AppError as exc:
            print(f"无法{'停用' if disabled else '启用'} / {exc.code}: {exc.message}", file=sys.stderr)
            return 1
        done = "已停用 / disabled" if disabled else "已启用 / enabled"
        print(f"{done}: {services.accounts.account_masked(account)} ({account['role']}) id={account['_id']}")
        return 0
    return run


def _purge_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="count and list the accounts, change nothing")


async def _purge_inactive(services: Services, args: argparse.Namespace) -> int:
    """purge-inactive: anonymize trainee accounts inactive for PII_RETENTION_DAYS (audited, no actor id)."""
    result = await services.privacy.purge_inactive(dry_run=args.dry_run, by=None)
    verb = "将清除 / would purge" if result.dry_run else "已清除 / purged"
    print(f"{verb}: {result.count} 个账号 / accounts inactive since {result.cutoff:%Y-%m-%d} "
          f"({result.retention_days} days)")
    for account_id in result.account_ids:
        print(f"  id={account_id}")
    return 0


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """A command without options."""


async def _migrate_pii(services: Services, args: argparse.Namespace) -> int:
    """migrate-pii: what ``serve`` runs at start-up, on demand (e.g. before taking a backup)."""
    counts = await migrate_pii(services.db, services.cipher)
    print("已迁移 / migrated: " + ", ".join(f"{name}={n}" for name, n in counts.items()))
    return 0


async def _migrate(services: Services, args: argparse.Namespace) -> int:
    """migrate: the start-up already ran the steps not done (under the lease); show each step's record."""
    for row in await MigrationRunner(services.db, STEPS).status():
        when = f"{row['done_at']:%Y-%m-%d %H:%M:%S}" if row["done_at"] else "-"
        state = "done" if row["done"] else "PENDING"
        print(f"{row['id']:<20} {state:<8} {when:<20} {row['description']}"
              + (f"  last error: {row['last_error']}" if row["last_error"] else ""))
    return 0


def _backup_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--to", required=True, type=Path, metavar="FILE", help="the backup file to write (.tar.gz)")


async def _backup(services: Services, args: argparse.Namespace) -> int:
    """backup: every collection and GridFS bucket at one point in time, to one compressed file."""
    try:
        summary = await backup(services.db, args.to)
    except BackupError as exc:
        print(f"备份失败 / backup failed: {exc}", file=sys.stderr)
        return 1
    total = sum(summary.counts.values())
    print(f"已备份 / backed up: {len(summary.counts)} collections, {total} documents -> {args.to}")
    return 0


def _restore_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source", required=True, type=Path, metavar="FILE",
                        help="a file written by `backup`")
    parser.add_argument("--force", action="store_true",
                        help="replace the collections of a database that is not empty")


async def _restore(services: Services, args: argparse.Namespace) -> int:
    """restore: check the whole file, then load it (into an empty database unless --force)."""
    try:
        summary = await restore(services.db, args.source, force=args.force)
    except BackupError as exc:
        print(f"恢复失败，未写入任何数据 / restore refused, nothing written: {exc}", file=sys.stderr)
        return 1
    print(f"已恢复 / restored: {len(summary.counts)} collections, {sum(summary.counts.values())} documents "
          f"from the backup of {summary.manifest['created_at']}")
    return 0


async def _worker(services: Services, args: argparse.Namespace) -> int:
    """Run background jobs and periodic tasks until SIGINT/SIGTERM (no HTTP); any number may run."""
    start_jobs(services)
    print(f"后台任务进程已启动 / job worker running ({services.runner.owner}, "
          f"{services.settings.jobs_concurrency} at a time)", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    # Closing the services stops the runner: running jobs get a short grace, then are given back.
    log.info("worker stopping")
    return 0


async def _rotate_pass_key(services: Services, args: argparse.Namespace) -> int:
    """rotate-pass-key: a new pass signing key in the key file; older keys stay valid until their passes end."""
    try:
        kid = await services.passes.keyring.rotate()
    except AppError as exc:
        print(f"无法轮换 / cannot rotate: {exc.message}", file=sys.stderr)
        return 1
    print(f"已轮换听课证签名密钥 / pass signing key rotated: kid={kid} "
          "(running servers sign with it from their next pass; old passes stay valid)")
    return 0


def _username_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("username", help="the staff member's login name")


async def _reset_totp(services: Services, args: argparse.Namespace) -> int:
    """reset-totp: a staff member lost the authenticator; their logins end, the next one enrols again (audited)."""
    account = await services.accounts.find_by_login(args.username)
    try:
        await services.totp.reset(account, by="cli")
    except AppError as exc:
        print(f"无法重置 / cannot reset: {exc.message}", file=sys.stderr)
        return 1
    assert account is not None
    revoked = await services.tokens.revoke_all(account["_id"])
    print(f"已重置动态验证码 / TOTP reset: {args.username} ({account['role']}); {revoked} 个登录已注销 / logins revoked; "
          "下次登录时重新绑定身份验证器 / enrols again at the next login")
    return 0


async def _totp_code(services: Services, args: argparse.Namespace) -> int:
    """totp-code (dev only): the code a staff member's authenticator shows now, for the demo and local work."""
    if services.settings.app_env != "dev":
        print("仅限开发环境 / dev only (APP_ENV=dev)", file=sys.stderr)
        return 1
    account = await services.accounts.find_by_login(args.username)
    secret = ((account or {}).get("staff") or {}).get("totp", {}).get("secret")
    if not secret:
        print("该账号未绑定身份验证器 / no TOTP enrolled for this account", file=sys.stderr)
        return 1
    print(code_at(services.cipher.decrypt(secret, context=TOTP_CONTEXT), services.totp.now()))
    return 0


COMMANDS: dict[str, Command] = {
    "create-staff": ("create an association staff account", _staff_arguments, _create_staff),
    "reset-totp": ("remove a staff member's second factor (lost phone); logins revoked, enrol again at login",
                   _username_argument, _reset_totp),
    "totp-code": ("dev only: print the current TOTP code of a staff account (demo staff)", _username_argument,
                  _totp_code),
    "disable-account": ("disable an account (every login revoked at once)", _account_arguments, _set_disabled(True)),
    "enable-account": ("re-enable a disabled account", _account_arguments, _set_disabled(False)),
    "purge-inactive": ("remove personal data of trainee accounts inactive for PII_RETENTION_DAYS",
                       _purge_arguments, _purge_inactive),
    "migrate-pii": ("seal personal data stored in clear by older versions (also run at start-up)", _no_arguments,
                    _migrate_pii),
    "rotate-pass-key": ("rotate the pass signing key (see README: Passes and check-in)", _no_arguments,
                        _rotate_pass_key),
    "migrate": ("run the database migrations not done yet (also run at start-up) and list them",
                _no_arguments, _migrate),
    "backup": ("write every collection and GridFS bucket to a compressed file (see deploy/README.md)",
               _backup_arguments, _backup),
    "restore": ("load a backup file into an empty database (--force: replace)", _restore_arguments, _restore),
    "worker": ("run background jobs and periodic tasks, without HTTP (see README: Background jobs)",
               _no_arguments, _worker),
}
