"""`kgen fit MODEL`: one sub-command per registered model family."""

import collections

import click

from cli.options import dataclass_options
from cli.options import split_kwargs
from kgen.models import families
from kgen.training import TrainConfig


@click.group()
def fit():
    """Train a model (resumes the unfinished run of the same command)."""


def _default_epochs():
    """The families' default epochs in one phrase, e.g. "10; wgan-gp: 2": the most common
    number, then each family that differs. One phrase for every `kgen fit` command keeps
    their shared options one table in docs/cli.md."""
    by_family = {name: family.default_epochs for name, family in families().items()}
    usual = collections.Counter(by_family.values()).most_common(1)[0][0]
    others = [f"{name}: {epochs}" for name, epochs in by_family.items() if epochs != usual]
    return "; ".join([str(usual), *others])


def _fit_command(family):
    @click.command(
        name=family.name, help=f"{family.summary} Default dataset: {family.default_dataset}."
    )
    @dataclass_options(TrainConfig, shown_defaults={"epochs": _default_epochs()})
    @dataclass_options(family.config_class)
    def command(**kwargs):
        from kgen.workflows import train

        model_config, train_config = split_kwargs(kwargs, family.config_class, TrainConfig)
        result = train(family.name, model_config, train_config, announce=click.echo)
        click.echo(f"Run directory: {result.run_dir}  (tensorboard --logdir {result.run_dir})")
        click.echo(f"Checkpoints:   {result.checkpoint_dir}")
        click.echo(f"SavedModel:    {result.export_dir}")

    return command


for _family in families().values():
    fit.add_command(_fit_command(_family))
