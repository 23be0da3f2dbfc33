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
embedded SQLite store (`qcss.defaultUrl()`); any other SQLite file must exist
(`css-admin schema init --url ...` or `?create=1` creates one). The global
options `--url`, `-o/--output` and `--read-only` may be given before or after
the verb (`css-admin db list -o json`); an explicit `--url` (or `--to` of
`restore`/`import`) always wins over `$QCSS_URL`, and every command that wrote
to the store ends with `target: URL (revision A -> B)` on stderr (password
masked). Output is `-o text` (values that are
not UTF-8 shown as `base64:...`; aligned columns; `true`/`false`), `-o json`
(such values as `{"base64": ...}`), `-o table` (aligned, with a header) or
`-o tsv` (tab-separated with a header line; tabs, newlines and backslashes
escaped). In text mode an empty result prints nothing on stdout and says so on
stderr. Errors are printed as `Error: ...` on stderr, with these exit codes:
"""

PEERS = """
## css-admin for etcdctl and zkCli users

| etcdctl | zkCli.sh / zk-shell | css-admin |
| --- | --- | --- |
| `etcdctl get KEY` | `get KEY` | `css-admin get KEY` (`--print-value-only` is the default; `-k` prints the key too) |
| `etcdctl get --prefix KEY` | `ls -R KEY` / `tree` | `css-admin ls -R KEY`, `css-admin tree KEY --depth N` |
| `etcdctl put KEY VALUE` | `set KEY VALUE` / `create KEY VALUE` | `css-admin set KEY VALUE` (`--version N`: compare-and-set), `css-admin create KEY VALUE` |
| `etcdctl del KEY` / `del --prefix` | `delete KEY` / `deleteall KEY` | `css-admin rm KEY` / `css-admin rm -r KEY` |
| — | `ls KEY`, `stat KEY` | `css-admin ls KEY`, `css-admin stat KEY` |
| — | zk-shell `find PATH NAME` | `css-admin find PREFIX --name GLOB` |
| — | zk-shell `cp SRC DST`, `diff A B` | `css-admin cp -r SRC DST`, `css-admin diff A B` (stores or dumps) |
| `etcdctl watch --prefix KEY --rev N` | `get -w KEY` | `css-admin watch KEY --since N` |
| `etcdctl endpoint status`, `etcdctl check` | `mntr`, `srvr` | `css-admin status` |
| `etcdctl compaction REV` | — | `css-admin compact --keep-revisions N` / `--max-age S` |
| `etcdctl lease list` | — | `css-admin leases` |
| `etcdctl lock NAME CMD` | — | `css-admin lock KEY -- CMD`, `css-admin locks`, `css-admin break-lock KEY` |
| `etcdctl snapshot save` / `restore` | zk-shell `cp / json://...` | `css-admin dump --format qcss > f`, `css-admin restore f` |
| — | zkCli interactive session | `css-admin shell` (history, Tab completes verbs and keys) |
| `etcdctl completion bash` | — | `css-admin completion bash` (or `zsh`, `fish`) |

## Shell completion

Verbs, options, keys (`get /DBS/<Tab>`) and database names (`db show <Tab>`)
complete in bash and zsh through click's shell completion, against the store
of `--url` / `$QCSS_URL`:

```sh
eval "$(css-admin completion bash)"    # in ~/.bashrc
eval "$(css-admin completion zsh)"     # in ~/.zshrc
```
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
    out = [INTRO, _exit_code_table(), PEERS]
    _walk(cli, ["css-admin"], out)
    _walk(migrate_main, ["css-migrate"], out)
    return "\n".join(out)


if __name__ == "__main__":
    print(render(), end="")
