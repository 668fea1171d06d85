"""`kgen fit MODEL`: one sub-command per registered model family."""

import click

from cli.options import dataclass_options
from cli.options import split_kwargs
from kgen.models import families
from kgen.training import TrainConfig


@click.group()
def fit():
    """Train a model (resumes the unfinished run of the same command)."""


def _fit_command(family):
    @click.command(
        name=family.name, help=f"{family.summary} Default dataset: {family.default_dataset}."
    )
    @dataclass_options(TrainConfig)
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
