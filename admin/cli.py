"""The `straja` command line. Each command group lives in its own module under admin/commands.

Commands are imported only when used, so `straja serve` loads the data plane and nothing
of the list tools, and start-up stays short on a small router.
"""

from __future__ import annotations

import importlib

import click

# command name -> "module:attribute" under admin.commands
COMMANDS = {
    "serve": "serve:serve",
    "config": "config_cmd:config",
    "keys": "keys:keys",
    "lists": "lists:lists",
    "check": "check:check",
    "selftest": "selftest:selftest",
    "stats": "stats_cmd:stats_command",
    "reports": "reports:reports",
    "users": "users:users",
    "tokens": "tokens:tokens",
    "overrides": "overrides:overrides",
    "report": "report:report",
}
# Subcommands of `lists` that live in their own modules.
LIST_COMMANDS = ("lists_manage:update", "lists_manage:import_", "lists_manage:status")


def _load(spec: str) -> click.Command:
    module, attribute = spec.split(":")
    command = getattr(importlib.import_module(f"admin.commands.{module}"), attribute)
    assert isinstance(command, click.Command)
    return command


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        try:
            command = _load(spec)
        except ModuleNotFoundError:
            return None  # a command whose module is not part of this build
        if cmd_name == "lists" and isinstance(command, click.Group):
            for sub in LIST_COMMANDS:
                sub_command = _load(sub)
                if sub_command.name not in command.commands:
                    command.add_command(sub_command)
        return command


@click.group(cls=LazyGroup)
@click.version_option(package_name="straja")
def main() -> None:
    """Straja: a DNS filtering appliance."""
    from admin import importtrace

    importtrace.install()  # STRAJA_IMPORT_TRACE only (scripts/openwrt-deps)
