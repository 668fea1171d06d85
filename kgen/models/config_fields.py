"""Helpers the families' settings dataclasses share."""

import dataclasses
import math
import numbers
import types
import typing

from kgen.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Range:
    """The values a numeric setting accepts: `min` to `max` (None: unbounded), each end
    closed unless `min_open`/`max_open` says otherwise. The CLI turns it into a
    click.IntRange/FloatRange and `check_settings` enforces it for the Python API."""

    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False

    def __contains__(self, value):
        if self.min is not None and (value <= self.min if self.min_open else value < self.min):
            return False
        if self.max is not None and (value >= self.max if self.max_open else value > self.max):
            return False
        return True

    def __str__(self):
        if self.min is not None and self.max is not None:
            return (
                f"{'(' if self.min_open else '['}{self.min}, "
                f"{self.max}{')' if self.max_open else ']'}"
            )
        if self.min is not None:
            return f"{'greater than' if self.min_open else 'at least'} {self.min}"
        if self.max is not None:
            return f"{'less than' if self.max_open else 'at most'} {self.max}"
        return "any number"


def at_least(minimum):
    """A Range of `minimum` and above."""
    return Range(min=minimum)


def positive():
    """A Range of numbers greater than 0 (rates, bounds)."""
    return Range(min=0, min_open=True)


def unit_interval():
    """[0, 1): decays, rates and probabilities that must leave something (1 would freeze or
    zero the quantity)."""
    return Range(min=0, max=1, max_open=True)


_UNSET = object()


def setting(default, help, range=None, recorded_before=_UNSET, **extra):
    """A dataclass field whose `help` documents it on the command line; `range` (a Range)
    bounds a numeric setting; `recorded_before` is the value that a run recorded before the
    setting existed had (when it differs from `default`, see `CheckedSettings.from_record`);
    `extra` metadata (e.g. `envvar`) goes to its option too."""
    metadata = {"help": help, **extra}
    if range is not None:
        metadata["range"] = range
    if recorded_before is not _UNSET:
        metadata["recorded_before"] = recorded_before
    return dataclasses.field(default=default, metadata=metadata)


def flag_name(field_name):
    """The command-line option of a setting: `ema_decay` -> `--ema-decay`."""
    return "--" + field_name.replace("_", "-")


def without_none(annotation):
    """The type an optional setting holds when set: `int` for `int | None` (or
    `Optional[int]`); any other annotation as it is."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(annotation) if a is not type(None))
    return annotation


def _members(annotation):
    """The types a union annotation joins (`int | None` -> int, NoneType); any other as one."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def numeric_type(annotation):
    """int or float for a numeric setting's annotation, else None. A union is numeric when
    one of its members is: `int | None`, or `Literal["auto"] | int` (see `keywords`)."""
    return next((member for member in _members(annotation) if member in (int, float)), None)


def keywords(annotation):
    """The words a numeric setting takes besides a number: ("auto",) for
    `Literal["auto"] | int`; () for a plain number."""
    return tuple(
        word
        for member in _members(annotation)
        if typing.get_origin(member) is typing.Literal
        for word in typing.get_args(member)
    )


def check_settings(settings):
    """Raise ConfigError naming the option, the allowed range and the value of the first
    numeric field of the dataclass `settings` outside its `range` metadata.

    None passes where the field's default is None (Optional settings such as `--limit`), and
    so does a keyword the field's annotation allows (`auto` of `Literal["auto"] | int`).
    """
    for field in dataclasses.fields(settings):
        bounds = field.metadata.get("range")
        kind = numeric_type(field.type)
        if bounds is None or kind is None:
            continue
        value = getattr(settings, field.name)
        if value is None and field.default is None:
            continue
        words = keywords(field.type)
        if value in words:
            continue
        either = "".join(f"{word} or " for word in words)  # "auto or " before the number
        expected = numbers.Integral if kind is int else numbers.Real
        if isinstance(value, bool) or not isinstance(value, expected):
            noun = "a whole number" if kind is int else "a number"
            raise ConfigError(
                f"{flag_name(field.name)} must be {either}{noun} {_phrase(bounds)}; got {value!r}."
            )
        if math.isnan(value) or value not in bounds:
            raise ConfigError(
                f"{flag_name(field.name)} must be {either}{_phrase(bounds)}; got {value!r}."
            )


def _phrase(bounds):
    text = str(bounds)
    return f"in {text}" if text[0] in "[(" else text


class CheckedSettings:
    """Base of the settings dataclasses: every numeric field's `range` is checked when an
    instance is made, so a bad value fails at once, naming its option."""

    def __post_init__(self):
        check_settings(self)

    @classmethod
    def from_record(cls, record):
        """The settings a run recorded (a dict of field values), each setting the record
        predates taking its `recorded_before` value: an older run then rebuilds the model
        it trained, not today's default."""
        older = {
            field.name: field.metadata["recorded_before"]
            for field in dataclasses.fields(cls)
            if "recorded_before" in field.metadata and field.name not in record
        }
        return cls(**older, **record)


def class_count(conditional, dataset_info):
    """The number of labels a conditional model needs (None if unconditional)."""
    if not conditional:
        return None
    if not dataset_info.num_classes:
        raise ConfigError(
            f"--conditional needs class labels, but dataset {dataset_info.name!r} has none."
        )
    return dataset_info.num_classes


def auto_likelihood(choice, channels, colour_likelihood):
    """`choice`, or for "auto" bernoulli on one channel and `colour_likelihood` on colour."""
    if choice != "auto":
        return choice
    return "bernoulli" if channels == 1 else colour_likelihood
