"""Generate docs/cli.md from the commands' own --help, so the docs cannot drift.

Run ``python -m qcss.clidoc > docs/cli.md``; tests/test_docs.py checks that
the file is current.
"""

from __future__ import annotations

import click

from qcss.cli import EXIT_CODES, EXIT_USAGE, cli
from qcss.migrate.cli import main as migrate_main

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


def _walk(cmd: click.Command, path: list[str], out: list[str],
          parent: click.Context | None = None) -> None:
    # With the parent context, as when run: subcommands inherit the group's
    # settings (-h/--help). Click caches each command's help option the first
    # time it is built, so a parentless context here would depend on whether
    # the command already ran in this process.
    ctx = click.Context(cmd, info_name=path[-1] if parent else " ".join(path), parent=parent,
                        **cmd.context_settings)
    level = "#" * min(len(path) + 1, 4)
    out.append(f"{level} `{' '.join(path)}`\n\n```\n{cmd.get_help(ctx).rstrip()}\n```\n")
    if isinstance(cmd, click.Group):
        for name in sorted(cmd.list_commands(ctx)):
            sub = cmd.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                _walk(sub, [*path, name], out, ctx)


def render() -> str:
    out = [INTRO, _exit_code_table()]
    _walk(cli, ["css-admin"], out)
    _walk(migrate_main, ["css-migrate"], out)
    return "\n".join(out)


if __name__ == "__main__":
    print(render(), end="")
