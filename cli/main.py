"""`kgen`: train, sample, export and benchmark generative image models."""

import importlib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out

import click

from kgen import __version__
from kgen.errors import KgenError

BACKENDS = ("tensorflow", "jax")
# Each command's module, imported when the command is looked up (to run it or to list it
# in the help), never when this module is: Keras reads KERAS_BACKEND once, on import, so
# nothing may import it before `--backend` is read.
COMMANDS = {
    "bench": ("cli.bench", "bench"),
    "eval": ("cli.eval", "eval_command"),
    "export": ("cli.export", "export"),
    "fit": ("cli.fit", "fit"),
    "plot": ("cli.plot", "plot"),
    "sample": ("cli.sample", "sample"),
    "serve": ("cli.serve", "serve"),
}


class KgenGroup(click.Group):
    """The `kgen` group: loads each command on first use, and turns kgen's user errors into
    one-line messages with a non-zero exit."""

    def list_commands(self, ctx):
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx, name):
        if name not in self.commands and name in COMMANDS:
            module, attribute = COMMANDS[name]
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return self.commands.get(name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KgenError as error:
            raise click.ClickException(str(error)) from None


def _choose_backend(ctx, param, value):
    """Set KERAS_BACKEND before anything imports Keras (the option is eager, and the
    commands load after it)."""
    if value is None:
        return
    if "keras" in sys.modules:  # only when kgen's CLI is called in a process that has Keras
        import keras

        running = keras.backend.backend()
        if running != value:
            raise click.BadParameter(
                f"Keras already runs on {running} in this process; run `kgen --backend "
                f"{value} ...` in a new process, or set KERAS_BACKEND={value} before it starts."
            )
    os.environ["KERAS_BACKEND"] = value


def _print_version(ctx, param, value):
    """`--version`: kgen's, Keras's and the backend in use (after --backend is applied)."""
    if not value or ctx.resilient_parsing:
        return
    import keras

    click.echo(f"kgen {__version__} (Keras {keras.__version__}, backend {keras.backend.backend()})")
    ctx.exit()


@click.group(cls=KgenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    callback=_choose_backend,
    expose_value=False,
    is_eager=True,
    help="Keras backend to run on (sets KERAS_BACKEND). Default: the KERAS_BACKEND "
    "environment variable, else tensorflow.",
)
@click.option(
    "--version",
    is_flag=True,
    callback=_print_version,
    expose_value=False,
    help="Show kgen's version, Keras's and the backend in use, and exit.",
)
def main():
    """Deep generative models of images on Keras 3: train, sample, evaluate, export, benchmark."""


if __name__ == "__main__":
    main()
