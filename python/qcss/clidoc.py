"""Generate docs/cli.md from the commands' own --help, so the docs cannot drift.

Run ``python -m qcss.clidoc > docs/cli.md``; tests/test_docs.py checks that
the file is current.
"""

from __future__ import annotations

import importlib

import click

from qcss.cli import EXIT_CODES, EXIT_USAGE, cli

INTRO = """# Command-line tools

Generated from the commands' `--help` by `python -m qcss.clidoc > docs/cli.md`;
do not edit by hand.

`css-admin` opens the store named by `--url`, else `$QCSS_URL`, else the
embedded SQLite store (`qcss.defaultUrl()`). Output is `-o text` (values that
are not UTF-8 shown as `base64:...`), `-o json` (such values as
`{"base64": ...}`), or `-o table` where a command has rows. Errors are printed
as `Error: ...` on stderr, with these exit codes:
"""


def _exit_code_table() -> str:
    rows = ["| code | meaning |", "| --- | --- |", "| 0 | success |",
            f"| {EXIT_USAGE} | bad usage (unknown option, missing argument) |"]
    seen: set[int] = set()
    for _, code, meaning in EXIT_CODES:
        if code not in seen:
            seen.add(code)
            rows.append(f"| {code} | {meaning} |")
    return "\n".join(rows) + "\n"


def _walk(cmd: click.Command, path: list[str], out: list[str]) -> None:
    # The help option names of the real CLI (click caches a command's help
    # option on first use, so the output must not depend on who asked first).
    ctx = click.Context(cmd, info_name=" ".join(path), help_option_names=["-h", "--help"])
    level = "#" * min(len(path) + 1, 4)
    out.append(f"{level} `{' '.join(path)}`\n\n```\n{cmd.get_help(ctx).rstrip()}\n```\n")
    if isinstance(cmd, click.Group):
        for name in sorted(cmd.list_commands(ctx)):
            sub = cmd.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                _walk(sub, [*path, name], out)


def render() -> str:
    out = [INTRO, _exit_code_table()]
    _walk(cli, ["css-admin"], out)
    try:
        migrate_main = importlib.import_module("qcss.migrate.cli").main
    except ImportError:  # the migration tool is optional in a partial checkout
        migrate_main = None
    if isinstance(migrate_main, click.Command):
        _walk(migrate_main, ["css-migrate"], out)
    return "\n".join(out)


if __name__ == "__main__":
    print(render(), end="")
