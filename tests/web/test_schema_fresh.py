"""web/src/api/schema.ts is generated from the server's OpenAPI document: it must be up to date."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"


@pytest.mark.skipif(not (WEB / "node_modules" / "openapi-typescript").is_dir(), reason="npm ci has not run in web/")
def test_generated_api_types_are_current(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "node is required (make web installs it)"
    fresh = tmp_path / "schema.ts"
    subprocess.run([node, "scripts/gen-api.mjs", str(fresh)], cwd=WEB, check=True, timeout=120,
                   env={**os.environ, "PYTHON": sys.executable}, capture_output=True)
    committed = (WEB / "src" / "api" / "schema.ts").read_text(encoding="utf-8")
    assert fresh.read_text(encoding="utf-8") == committed, (
        "web/src/api/schema.ts is out of date with the API: run `cd web && npm run gen-api` and commit it"
    )
