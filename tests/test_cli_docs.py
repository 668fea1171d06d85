"""docs/cli.md against the command line: its option tables are what `python -m cli.reference`
generates from Click, and, checked apart from that generator, every option of every command is
in the tables of that command and the page names no option that no command has."""

import dataclasses
import re
from pathlib import Path
from typing import Literal

import click
from click.testing import CliRunner

from cli import reference
from cli.main import main
from kgen.models.config_fields import CheckedSettings
from kgen.models.config_fields import at_least
from kgen.models.config_fields import setting
from kgen.models.registry import ModelFamily

# The page's own format, read here without the generator's code: a table documents the
# commands its marker names; `kgen fit *` stands for every sub-command of `kgen fit`.
TABLE = re.compile(
    r"^<!-- generated: (.+?) \(python -m cli\.reference\) -->\n(.*?)^<!-- end generated -->$",
    re.MULTILINE | re.DOTALL,
)
FLAG = re.compile(r"(?<![\w-])--[a-z0-9][a-z0-9-]*")
COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


def cli_options(root=main):
    """{command path: [flags of each option]} for every command, `--help` aside, and the
    set of every flag any command has (`--help` included)."""
    options, every_flag = {}, set()

    def visit(command, name, parent):
        ctx = click.Context(command, info_name=name, parent=parent, **command.context_settings)
        path = ctx.command_path
        options[path] = []
        for param in command.get_params(ctx):
            if not isinstance(param, click.Option):
                continue
            flags = [flag for flag in param.opts + param.secondary_opts if flag.startswith("--")]
            every_flag.update(flags)
            if not set(param.opts) & set(ctx.help_option_names):
                options[path].append(flags)
        if isinstance(command, click.Group):
            for sub in command.list_commands(ctx):
                visit(command.get_command(ctx, sub), sub, ctx)

    visit(root, "kgen", None)
    return options, every_flag


def documentation_gaps(text, root=main):
    """What docs/cli.md `text` leaves out or gets wrong about the options of `root`."""
    options, every_flag = cli_options(root)
    tables = []  # (the commands a table documents, its caption, the flags of its rows)
    for names, body in TABLE.findall(text):
        rows = [line.split(" | ")[0] for line in body.splitlines() if line.startswith("| `")]
        caption = body.split("\n", 1)[0] if body.startswith("Options of") else ""
        flags = {flag for row in rows for flag in FLAG.findall(row)}
        tables.append((names.split(", "), caption, flags))

    def documents(names, caption, path):
        """Whether a table names `path`, or is a `GROUP *` table whose caption lists it
        among the sub-commands it covers."""
        parent, leaf = path.rsplit(" ", 1) if " " in path else (path, "")
        return any(
            name == path or (name.endswith(" *") and parent == name[:-2] and f"`{leaf}`" in caption)
            for name in names
        )

    gaps = []
    for path, command_options in options.items():
        mine = [flags for names, caption, flags in tables if documents(names, caption, path)]
        documented = set().union(*mine)
        for flags in command_options:
            gaps.extend(
                f"{path}: {flag} is in no table of this command"
                for flag in flags
                if flag not in documented
            )
        own = {flag for flags in command_options for flag in flags}
        gaps.extend(
            f"{path}: a table of this command lists {flag}, which it does not have"
            for flag in sorted(documented - own)
        )
    gaps.extend(
        f"docs/cli.md names {flag}, which no command has"
        for flag in sorted(set(FLAG.findall(COMMENT.sub("", text))) - every_flag)
    )
    return gaps


def test_the_tables_are_what_the_cli_generates():
    text = reference.DOC.read_text()
    stale = reference.problems(text)
    assert not stale, (
        "docs/cli.md is out of date with the CLI; run `python -m cli.reference` "
        "(and check the prose around the tables it changes):\n"
        + "\n".join(f"  {name}: {problem}" for name, problem in stale)
    )
    assert reference.render(text) == text


def test_every_option_of_every_command_is_documented_in_its_section():
    gaps = documentation_gaps(reference.DOC.read_text())
    assert not gaps, "\n".join(gaps)


def test_the_options_checked_are_those_help_prints():
    options, _ = cli_options()
    runner = CliRunner()
    for path, command_options in options.items():
        result = runner.invoke(main, path.split()[1:] + ["--help"])
        assert result.exit_code == 0, result.output
        for flags in command_options:
            assert flags[0] in result.output, (path, flags)


def _new_gaps(text, known):
    """The gaps of `text` beyond the `known` ones of docs/cli.md with the CLI as it is (the
    tests above report those), so that the tests of the checks fail only for their own
    reason."""
    return [gap for gap in documentation_gaps(text) if gap not in known]


def test_an_undocumented_option_fails_both_checks(monkeypatch):
    text = reference.DOC.read_text()
    known = documentation_gaps(text)
    sample = main.get_command(None, "sample")
    scratch = click.Option(["--scratch-flag"], help="Added by the test.")
    monkeypatch.setattr(sample, "params", sample.params + [scratch])

    assert ("kgen sample", reference.OUT_OF_DATE) in reference.problems(text)
    assert _new_gaps(text, known) == ["kgen sample: --scratch-flag is in no table of this command"]
    regenerated = reference.render(text)
    assert "| `--scratch-flag TEXT` |  | Added by the test. |" in regenerated
    assert ("kgen sample", reference.OUT_OF_DATE) not in reference.problems(regenerated)
    assert _new_gaps(regenerated, known) == []


def test_a_flag_no_command_has_fails_the_check():
    text = reference.DOC.read_text()
    known = documentation_gaps(text)
    assert _new_gaps(text + "\nUse `--no-such-flag`.\n", known) == [
        "docs/cli.md names --no-such-flag, which no command has"
    ]
    table = "<!-- generated: kgen export (python -m cli.reference) -->\n"
    broken = text.replace(table, table + "| `--fresh` | | Not an option of export. |\n")
    assert _new_gaps(broken, known) == [
        "kgen export: a table of this command lists --fresh, which it does not have"
    ]


@dataclasses.dataclass
class _ScratchConfig(CheckedSettings):
    width: int = setting(64, "Hidden width.", at_least(1))
    mode: Literal["a", "b"] = setting("a", "Which variant.")
    depth: int | None = setting(None, "Blocks.", at_least(1), shown_default="one per stage")


def test_a_new_family_gets_its_section_from_its_config(monkeypatch):
    """A family registered later needs no change to the generator: regenerating adds a
    section with its options after the other families'."""
    from cli.bench import _bench_command
    from cli.fit import _fit_command

    family = ModelFamily(
        name="scratch",
        config_class=_ScratchConfig,
        build=None,
        default_dataset="mnist",
        summary="A scratch family.",
    )
    text = reference.DOC.read_text()
    known = documentation_gaps(text)
    for group, make in (("fit", _fit_command), ("bench", _bench_command)):
        monkeypatch.setitem(main.get_command(None, group).commands, "scratch", make(family))
    name = "kgen bench scratch, kgen fit scratch"
    assert (name, reference.MISSING) in reference.problems(text)
    assert "kgen fit scratch: --width is in no table of this command" in _new_gaps(text, known)

    regenerated = reference.render(text)
    assert (name, reference.MISSING) not in reference.problems(regenerated)
    assert _new_gaps(regenerated, known) == []
    section = regenerated.index("## `kgen bench scratch`, `kgen fit scratch`")
    assert regenerated.index("## `kgen fit classifier`") < section
    assert section < regenerated.index("## `kgen sample`")
    assert "| `--mode [a\\|b]` | `a` | Which variant. |" in regenerated
    assert "| `--depth INTEGER RANGE` | one per stage | Blocks. Range: `x>=1`. |" in regenerated
    assert reference.render(regenerated) == regenerated


def test_getting_started_lists_exactly_the_options_a_resumed_run_may_change():
    from kgen.training.run_dir import _NOT_IDENTITY

    text = (Path(__file__).resolve().parents[1] / "docs" / "getting-started.md").read_text()
    sentence = text.split("the training options except", 1)[1].split("The dataset", 1)[0]
    documented = {flag[2:].replace("-", "_") for flag in FLAG.findall(sentence)}
    assert documented == set(_NOT_IDENTITY)


def _cpu_table(text):
    """The rows of the "What to expect on a CPU" table in a page."""
    section = text.split("What to expect on a CPU\n", 1)[1]
    rows = section.split("\n|", 1)[1].split("\n\n", 1)[0]
    return ["|" + row if not row.startswith("|") else row for row in rows.splitlines()]


def test_the_cpu_table_times_every_quickstart_command_in_both_pages():
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    table = _cpu_table(readme)
    assert table == _cpu_table((root / "docs" / "getting-started.md").read_text())
    quickstart = readme.split("## Quickstart", 1)[1].split("```", 2)[1]
    commands = [line.split(" #")[0].strip() for line in quickstart.splitlines()]
    timed = [row.split("|")[1].strip().strip("`") for row in table[2:]]
    assert [command for command in commands if command] == timed
