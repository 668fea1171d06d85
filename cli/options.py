"""Click options generated from settings dataclasses, so each setting is documented once."""

import dataclasses
import typing

import click

from kgen.models.config_fields import without_none


def _click_type(field):
    """(click type, is_flag) for a dataclass field: its annotation, and for a number its
    `range` metadata as a click.IntRange/FloatRange, so Click rejects a value out of range
    (naming the option and the range) before anything runs."""
    annotation = without_none(field.type)
    if typing.get_origin(annotation) is typing.Literal:
        return click.Choice(typing.get_args(annotation)), False
    if annotation is bool:
        return bool, True
    bounds = field.metadata.get("range")
    if bounds is not None and annotation in (int, float):
        range_type = click.IntRange if annotation is int else click.FloatRange
        return range_type(
            bounds.min, bounds.max, min_open=bounds.min_open, max_open=bounds.max_open
        ), False
    return annotation, False


def dataclass_options(config_class, exclude=()):
    """A decorator adding one option per field of `config_class` (`--field-name`), except
    the fields named in `exclude`."""

    def decorate(command):
        for field in reversed(dataclasses.fields(config_class)):
            if field.name in exclude:
                continue
            flag = field.name.replace("_", "-")
            click_type, is_flag = _click_type(field)
            help_text = field.metadata.get("help", "")
            extra = {}
            if "envvar" in field.metadata:
                extra["envvar"] = field.metadata["envvar"]
                help_text += f" [env: {field.metadata['envvar']}]"
            if is_flag:
                declaration = f"--{flag}/--no-{flag}"
                command = click.option(
                    declaration,
                    field.name,
                    default=field.default,
                    show_default=True,
                    help=help_text,
                )(command)
            else:
                command = click.option(
                    f"--{flag}",
                    field.name,
                    type=click_type,
                    default=field.default,
                    show_default=field.default is not None,
                    help=help_text,
                    **extra,
                )(command)
        return command

    return decorate


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
