"""Click options generated from settings dataclasses, so each setting is documented once."""

import dataclasses
import typing

import click

from kgen.models.config_fields import Range
from kgen.models.config_fields import keywords
from kgen.models.config_fields import numeric_type
from kgen.models.config_fields import without_none


class _KeywordOr:
    """Mixed into a click.IntRange/FloatRange: the option also takes one of `keywords`
    (such as "auto"); `--help` shows them in the metavar and the range as usual."""

    def __init__(self, keywords, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.keywords = keywords

    def get_metavar(self, param, ctx):
        return f"[{'|'.join(self.keywords)}|{self.name.upper()}]"

    def convert(self, value, param, ctx):
        if value in self.keywords:
            return value
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            words = " nor ".join(self.keywords)
            self.fail(
                f"{value!r} is neither {words} nor {self.noun} in the range "
                f"{self._describe_range()}.",
                param,
                ctx,
            )


class _KeywordOrIntRange(_KeywordOr, click.IntRange):
    noun = "a whole number"


class _KeywordOrFloatRange(_KeywordOr, click.FloatRange):
    noun = "a number"


def _click_type(field):
    """(click type, is_flag) for a dataclass field: its annotation, and for a number its
    `range` metadata as a click.IntRange/FloatRange, so Click rejects a value out of range
    (naming the option and the range) before anything runs. A number that may also be a
    keyword (`Literal["auto"] | int`) takes either."""
    annotation = without_none(field.type)
    bounds = field.metadata.get("range")
    number, words = numeric_type(field.type), keywords(field.type)
    if number and words:
        range_type = _KeywordOrIntRange if number is int else _KeywordOrFloatRange
        return range_type(words, **_limits(bounds or Range())), False
    if typing.get_origin(annotation) is typing.Literal:
        return click.Choice(typing.get_args(annotation)), False
    if annotation is bool:
        return bool, True
    if bounds is not None and annotation in (int, float):
        range_type = click.IntRange if annotation is int else click.FloatRange
        return range_type(**_limits(bounds)), False
    return annotation, False


def _limits(bounds):
    """A Range as the arguments of click.IntRange/FloatRange."""
    return dict(min=bounds.min, max=bounds.max, min_open=bounds.min_open, max_open=bounds.max_open)


def dataclass_options(config_class, exclude=(), shown_defaults=None):
    """A decorator adding one option per field of `config_class` (`--field-name`), except
    the fields named in `exclude`.

    The help text comes from the field's `metadata["help"]`; `metadata["envvar"]` names an
    environment variable that fills the option. Where the field's default (often None) says
    less than a phrase would, `metadata["shown_default"]`, or `shown_defaults[field_name]`
    for a default that depends on the command, is the default `--help` and docs/cli.md show
    (Click's `show_default` string); the value itself stays the field's default."""
    shown_defaults = shown_defaults or {}

    def decorate(command):
        for field in reversed(dataclasses.fields(config_class)):
            if field.name in exclude:
                continue
            flag = field.name.replace("_", "-")
            click_type, is_flag = _click_type(field)
            shown = shown_defaults.get(field.name, field.metadata.get("shown_default"))
            extra = {} if is_flag else {"type": click_type}
            if "envvar" in field.metadata:
                extra.update(envvar=field.metadata["envvar"], show_envvar=True)
            command = click.option(
                f"--{flag}/--no-{flag}" if is_flag else f"--{flag}",
                field.name,
                default=field.default,
                show_default=shown or is_flag or field.default is not None,
                help=field.metadata.get("help", ""),
                **extra,
            )(command)
        return command

    return decorate


def data_source_options(command):
    """The options that say where a trained model's dataset is read from (`kgen eval`,
    `kgen plot`): each unset one falls back to the run's own setting."""
    options = (
        click.option(
            "--image-size",
            default=None,
            type=click.IntRange(min=1),
            show_default="the run's own",
            help="Centre-crop and resize the dataset's images.",
        ),
        click.option(
            "--data-dir",
            default=None,
            show_default="the run's own, else TFDS's",
            help="TFDS data directory.",
        ),
        click.option(
            "--manual-dir",
            default=None,
            envvar="KGEN_MANUAL_DIR",
            show_envvar=True,
            show_default="the run's own",
            help="Raw files for offline TFDS preparation.",
        ),
    )
    for option in reversed(options):
        command = option(command)
    return command


def split_kwargs(kwargs, *config_classes):
    """One config instance per class, each taking its own fields out of `kwargs`."""
    configs = []
    for config_class in config_classes:
        names = {field.name for field in dataclasses.fields(config_class)}
        configs.append(config_class(**{k: v for k, v in kwargs.items() if k in names}))
    return configs


def parse_labels(ctx, param, value):
    """Click callback: "0,1,2" -> [0, 1, 2]; None stays None."""
    if not value:
        return None
    try:
        return [int(item) for item in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"expected integers like 0,1,2; got {value!r}") from None
