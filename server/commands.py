"""Administrative subcommands of ``python -m server`` (``python -m server --help`` lists them).

A command is (help, add_arguments, run): ``run`` gets the services of a normal
start-up (settings, database, indexes) and returns the exit code.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable

from server.services import Services

Command = tuple[
    str,
    Callable[[argparse.ArgumentParser], None],
    Callable[[Services, argparse.Namespace], Awaitable[int]],
]

COMMANDS: dict[str, Command] = {}
