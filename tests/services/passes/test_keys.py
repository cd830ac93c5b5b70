"""The signing keys: generated into DATA_DIR in dev, never in the database, rotated by the command."""

from __future__ import annotations

import argparse
import stat

import pytest

from server.commands import COMMANDS
from server.errors import AppError
from server.services.container import Services
from server.services.passes.keys import PassKeyring, key_file, seed_text
from tests.services.enrollment.helpers import as_trainee
from tests.services.passes.helpers import approved_enrollments


async def test_dev_key_is_generated_private_and_never_stored(services: Services) -> None:
    kid, key = await services.passes.keyring.signing_key()
    path = key_file(services.settings)
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    seed = seed_text(key)
    docs = await services.db["pass_keys"].find().to_list()
    assert [d["_id"] for d in docs] == [kid]
    assert seed not in str(docs)


async def test_rotate_command_registers_a_new_kid_and_keeps_the_old_valid(services: Services) -> None:
    _, [enrollment] = await approved_enrollments(services)
    old = await services.passes.pass_for(as_trainee({"_id": enrollment["trainee_id"]}), str(enrollment["_id"]))
    assert await COMMANDS["rotate-pass-key"][2](services, argparse.Namespace()) == 0
    kid, _ = await services.passes.keyring.signing_key()
    assert kid == old["kid"] + 1
    published = {k["_id"] for k in await services.passes.keyring.published()}
    assert published == {old["kid"], kid}


async def test_production_without_a_key_refuses_to_sign(services: Services, make_settings: object) -> None:
    settings = services.settings.model_copy(update={"app_env": "production"})
    keyring = PassKeyring(services.db, settings=settings)
    with pytest.raises(AppError) as refused:
        await keyring.signing_key()
    assert refused.value.code == "pass_key_missing"
