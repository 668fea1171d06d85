"""Helpers the families' settings dataclasses share."""

import dataclasses

from kgen.errors import ConfigError


def setting(default, help, **extra):
    """A dataclass field whose `help` documents it on the command line; `extra` metadata
    (e.g. `envvar`) goes to its option too."""
    return dataclasses.field(default=default, metadata={"help": help, **extra})


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
