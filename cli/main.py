"""`kgen`: train, sample, export and benchmark generative image models."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out

import click

from kgen import __version__
from kgen.errors import KgenError


class KgenGroup(click.Group):
    """A group that turns kgen's user errors into one-line messages with a non-zero exit."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KgenError as error:
            raise click.ClickException(str(error)) from None


@click.group(cls=KgenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="kgen")
def main():
    """Deep generative models of images on Keras 3: train, sample, evaluate, export, benchmark."""


def _register_commands():
    from cli.bench import bench
    from cli.eval import eval_command
    from cli.export import export
    from cli.fit import fit
    from cli.plot import plot
    from cli.sample import sample
    from cli.serve import serve

    for command in (fit, sample, plot, export, eval_command, bench, serve):
        main.add_command(command)


_register_commands()


if __name__ == "__main__":
    main()
