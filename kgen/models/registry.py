"""Model families by name: how generic code (driver, CLI, exporter) finds a model's settings
and builder without ever branching on the name."""

import dataclasses
from collections.abc import Callable

from kgen.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class ModelFamily:
    """What the CLI and the training driver need to know about one family.

    Attributes:
        name: the command-line name (`kgen fit NAME`).
        config_class: dataclass of the family's settings; each field's `metadata["help"]`
            documents it and becomes a command-line option.
        build: (config, dataset_info, seed, jit_compile) -> compiled model; called inside
            the strategy scope.
        default_dataset: the dataset `kgen fit NAME` trains on when none is given.
        summary: one line for `--help`.
        default_epochs: the epochs `kgen fit NAME` trains for when not told, sized so that
            a default run on the default dataset ends in minutes on a CPU, not hours.
    """

    name: str
    config_class: type
    build: Callable
    default_dataset: str
    summary: str
    default_epochs: int = 10


_FAMILIES = {}


def register_family(family):
    """Make a family available to the CLI and the driver; returns it."""
    _FAMILIES[family.name] = family
    return family


def get_family(name):
    """The family registered as `name`, or a ConfigError that lists the known ones."""
    import kgen.models  # noqa: F401  (importing the package registers every family)

    if name not in _FAMILIES:
        raise ConfigError(f"Unknown model {name!r}; choose one of: {', '.join(sorted(_FAMILIES))}.")
    return _FAMILIES[name]


def families():
    """All registered families, by name."""
    import kgen.models  # noqa: F401

    return dict(sorted(_FAMILIES.items()))
