"""The option tables of docs/cli.md, generated from the Click command tree.

    python -m cli.reference            rewrite the tables of docs/cli.md in place
    python -m cli.reference --check    exit 1, naming each table that is out of date

Each table sits between `<!-- generated: NAMES (python -m cli.reference) -->` and
`<!-- end generated -->`; everything outside those markers is hand-written and kept as it is.
NAMES are the commands the table documents, e.g. `kgen bench vae, kgen fit vae`, or
`kgen fit *` for the options every sub-command of `kgen fit` takes (the data and training
options). A table that no section holds yet, such as a new model family's, is added in a new
section after the sections of its sibling commands.

Each row is what `--help` shows: the flag with Click's metavar, the default (Click's, or the
option's `show_default` phrase), the help text and the range.
"""

import argparse
import dataclasses
import inspect
import re
import sys
from pathlib import Path

import click

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
COMMAND = "python -m cli.reference"
END = "<!-- end generated -->"
BLOCK = re.compile(
    r"^<!-- generated: (?P<names>.+?) \(python -m cli\.reference\) -->\n"
    r"(?P<body>.*?)^<!-- end generated -->$",
    re.MULTILINE | re.DOTALL,
)
HEADER = "| option | default | meaning |\n|---|---|---|"


def begin(names):
    return f"<!-- generated: {names} ({COMMAND}) -->"


@dataclasses.dataclass(frozen=True)
class Table:
    """The options that one or more commands share, rendered as Markdown rows."""

    names: tuple  # command paths ("kgen fit vae"), or "kgen fit *" for every sub-command
    rows: tuple
    phrases: tuple  # each name as the caption says it
    summaries: tuple  # each command's help, for a new section

    @property
    def name(self):
        return ", ".join(self.names)

    def body(self):
        caption = ""
        if len(self.names) > 1 or self.names[0].endswith(" *"):
            caption = f"Options of {_join(self.phrases)}.\n\n"
        return caption + HEADER + "\n" + "\n".join(self.rows) + "\n"


def _join(items):
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def walk(command, name="kgen", parent=None):
    """A context for `command` and for each command under it, depth first, in Click's order."""
    ctx = click.Context(command, info_name=name, parent=parent, **command.context_settings)
    yield ctx
    if isinstance(command, click.Group):
        for sub in command.list_commands(ctx):
            yield from walk(command.get_command(ctx, sub), sub, ctx)


def _cell(text):
    """`text` on one line, safe in a Markdown table cell: `|` escaped, and `<` outside code
    spans written as an entity so that `<model>` is not read as an HTML tag."""
    parts = " ".join(text.split()).replace("|", "\\|").split("`")
    return "`".join(part if i % 2 else part.replace("<", "&lt;") for i, part in enumerate(parts))


def option_rows(ctx):
    """One Markdown row per option of ctx.command, as its `--help` shows it (`--help` aside)."""
    rows = []
    for param in ctx.command.get_params(ctx):
        if not isinstance(param, click.Option) or param.hidden:
            continue
        if set(param.opts) & set(ctx.help_option_names):
            continue
        flags = param.get_help_record(ctx)[0]
        extra = param.get_help_extra(ctx)
        default = []
        if extra.get("envvars"):
            default.append("env " + ", ".join(f"`{name}`" for name in extra["envvars"]))
        if isinstance(param.show_default, str):
            default.append(_cell(param.show_default))
        elif extra.get("default"):
            default.append(_cell(f"`{extra['default']}`"))
        meaning = [_cell(param.help or "")]
        if extra.get("range"):
            meaning.append(f"Range: `{extra['range']}`.")
        if extra.get("required"):
            meaning.append("Required.")
        meaning = " ".join(part for part in meaning if part)
        rows.append(f"| {_cell(f'`{flags}`')} | {', else '.join(default)} | {meaning} |")
    return rows


def _summary(command):
    text = inspect.cleandoc(command.help or "").split("\n\n")[0]
    return " ".join(text.split())


def tables(root=None):
    """Every table of the reference, in command-tree order: for each group with several
    sub-commands, the rows all of them share (`kgen fit *`); for each command, its other rows.
    Commands whose tables come out the same share one (`kgen bench vae, kgen fit vae`)."""
    if root is None:
        from cli.main import main as root
    contexts = list(walk(root))
    rows = {ctx.command_path: option_rows(ctx) for ctx in contexts}
    found = {}  # rows -> Table, so that equal tables merge

    def add(name, command_rows, command, phrase):
        key = tuple(command_rows)
        table = found.get(key, Table((), key, (), ()))
        found[key] = Table(
            table.names + (name,),
            key,
            table.phrases + (phrase,),
            table.summaries + (_summary(command),),
        )

    for ctx in contexts:
        path, command = ctx.command_path, ctx.command
        if isinstance(command, click.Group):
            names = command.list_commands(ctx)
            # The sub-commands made alike (one per model family) share their rows in one
            # table; one made otherwise (`kgen bench serve`), sharing less than half of the
            # first's rows, keeps all of its own.
            first = set(rows[f"{path} {names[0]}"]) if names else set()
            alike = [
                name for name in names if 2 * len(first & set(rows[f"{path} {name}"])) >= len(first)
            ]
            subs = [f"{path} {name}" for name in alike]
            if len(subs) > 1:
                shared = [row for row in rows[subs[0]] if all(row in rows[s] for s in subs[1:])]
                if shared:
                    members = ", ".join(f"`{name}`" for name in alike)
                    phrase = (
                        f"every `{path}` command ({members})"
                        if alike == names
                        else f"the `{path}` commands {members}"
                    )
                    add(f"{path} *", shared, command, phrase)
                for sub in subs:
                    rows[sub] = [row for row in rows[sub] if row not in shared]
        if rows[path]:
            add(path, rows[path], command, f"`{path}`")
    return {table.name: table for table in found.values()}


def _parent(name):
    return name.rsplit(" ", 1)[0]


OUT_OF_DATE = "out of date"
MISSING = "missing: no section holds it yet"
DUPLICATE = "a second table of the same commands"
UNKNOWN = "no such commands: the tables of the CLI are those of"


def problems(text, expected=None):
    """What is out of date in `text` (docs/cli.md), as (table name, problem) pairs."""
    expected = tables() if expected is None else expected
    found, seen = [], set()
    for match in BLOCK.finditer(text):
        name = match["names"]
        if name in seen:
            found.append((name, DUPLICATE))
        elif name not in expected:
            found.append((name, f"{UNKNOWN} {', '.join(expected)}"))
        elif match["body"] != expected[name].body():
            found.append((name, OUT_OF_DATE))
        seen.add(name)
    found.extend((name, MISSING) for name in expected if name not in seen)
    return found


def render(text, expected=None):
    """`text` with every generated table rewritten, and a new section for each missing one.
    A table of commands that are gone, or whose options now differ (so that the tables are cut
    differently), is a ValueError: which prose goes with it is for a person to decide."""
    expected = tables() if expected is None else expected
    stray = [
        f"{name}: {problem}"
        for name, problem in problems(text, expected)
        if problem not in (OUT_OF_DATE, MISSING)
    ]
    if stray:
        raise ValueError("; ".join(stray))

    def fill(match):
        return f"{begin(match['names'])}\n{expected[match['names']].body()}{END}"

    text = BLOCK.sub(fill, text)
    for name, table in expected.items():
        if name not in {match["names"] for match in BLOCK.finditer(text)}:
            text = _insert(text, table)
    return text


def _insert(text, table):
    """`text` with a new section for `table` after the section of the last table of sibling
    commands (those of the same groups, else any of the same group), or at the end."""
    parents = {_parent(name) for name in table.names}
    position, best = len(text), 0
    for match in BLOCK.finditer(text):
        theirs = {_parent(name) for name in match["names"].split(", ")}
        score = 2 if theirs == parents else 1 if theirs & parents else 0
        if score and score >= best:
            heading = re.compile(r"^## ", re.MULTILINE).search(text, match.end())
            position, best = (heading.start() if heading else len(text)), score
    heading = ", ".join(f"`{name}`" for name in table.names)
    intro = "\n".join(f"- {p}: {s}" for p, s in zip(table.phrases, table.summaries))
    section = f"## {heading}\n\n{intro}\n\n{begin(table.name)}\n{table.body()}{END}\n"
    before, after = text[:position].rstrip("\n") + "\n\n", text[position:]
    return before + section + ("\n" + after if after else "")


def main(argv=None):
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", type=Path, default=DOC, help="default: docs/cli.md")
    parser.add_argument("--check", action="store_true", help="only report what is out of date")
    args = parser.parse_args(argv)
    text = args.path.read_text()
    if args.check:
        found = problems(text)
        for name, problem in found:
            print(f"{args.path}: table '{name}': {problem}", file=sys.stderr)
        if found:
            print(f"Run `{COMMAND}` to rewrite the tables.", file=sys.stderr)
        return 1 if found else 0
    try:
        new = render(text)
    except ValueError as error:
        print(f"{args.path}: {error}; edit those sections by hand.", file=sys.stderr)
        return 1
    if new != text:
        args.path.write_text(new)
        print(f"Rewrote {args.path}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
