"""The migrate, backup and restore subcommands, run on the services of a test."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from server.commands import COMMANDS
from server.migrations.steps import run_migrations
from server.services.container import Services


async def _run(services: Services, command: str, **args: object) -> int:
    return await COMMANDS[command][2](services, argparse.Namespace(**args))


async def test_migrate_lists_the_steps(services: Services, capsys: pytest.CaptureFixture[str]) -> None:
    await _run(services, "migrate")
    assert capsys.readouterr().out.count("PENDING") == 2
    await run_migrations(services.db, services.cipher)
    assert await _run(services, "migrate") == 0
    out = capsys.readouterr().out
    assert "0001-indexes" in out and "0002-pii-sealed" in out and "PENDING" not in out


async def test_backup_then_restore_refused_on_a_full_database_or_a_damaged_file(
    services: Services, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await services.db["courses"].insert_one({"name": "安全员继续教育"})
    assert await _run(services, "backup", to=tmp_path / "b.tar.gz") == 0
    assert "documents -> " in capsys.readouterr().out
    assert await _run(services, "restore", source=tmp_path / "b.tar.gz", force=False) == 1
    assert "nothing written" in capsys.readouterr().err
    (tmp_path / "bad.tar.gz").write_bytes((tmp_path / "b.tar.gz").read_bytes()[:100])
    assert await _run(services, "restore", source=tmp_path / "bad.tar.gz", force=True) == 1
    assert "not a readable backup file" in capsys.readouterr().err
    assert await services.db["courses"].count_documents({}) == 1
    assert await _run(services, "restore", source=tmp_path / "b.tar.gz", force=True) == 0
    assert await services.db["courses"].count_documents({}) == 1
