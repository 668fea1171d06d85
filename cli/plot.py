"""`kgen plot KIND MODEL_OR_RUN`: a PNG plot of a trained model or of a run's curves."""

import dataclasses

import click

from cli.options import data_source_options
from cli.options import parse_labels
from kgen.plots import PLOT_KINDS
from kgen.plots import PlotSettings


def _defaults(setting):
    """ "kind: default" for each kind with its own default of `setting`, for --help."""
    return ", ".join(
        f"{kind.name}: {kind.defaults[setting]}"
        for kind in PLOT_KINDS.values()
        if setting in kind.defaults
    )


def _kinds_help():
    return "\n".join(f"  {kind.name:<16} {kind.summary}" for kind in PLOT_KINDS.values())


@click.command(epilog=f"\b\nKinds:\n{_kinds_help()}")
@click.argument("kind", type=click.Choice(list(PLOT_KINDS)))
@click.argument("path", metavar="MODEL_OR_RUN", type=click.Path())
@click.option(
    "--out",
    default=None,
    type=click.Path(dir_okay=False),
    show_default="KIND.png",
    help="PNG file to write. It is written to a temporary file and then renamed into place.",
)
@click.option(
    "--num",
    default=None,
    type=click.IntRange(min=1),
    show_default=_defaults("num"),
    help="Samples, real images (reconstructions) or image pairs (interpolation).",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=int,
    help="Seed of the samples; same seed, same images.",
)
@click.option(
    "--steps",
    default=None,
    type=click.IntRange(min=2),
    show_default=_defaults("steps"),
    help="Images per row, or per side of the manifold's grid.",
)
@click.option(
    "--dims",
    default=PlotSettings.dims,
    show_default=True,
    type=click.IntRange(min=0),
    help="Latent dimensions a traversal varies, the first ones; 0 for all.",
)
@click.option(
    "--span",
    default=PlotSettings.span,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="A traversal varies each dimension over [-SPAN, SPAN].",
)
@click.option(
    "--base",
    default="image",
    show_default=True,
    type=click.Choice(["image", "zero"]),
    help="Code a traversal starts from: the first real image's posterior mean (models that "
    "encode), or z = 0.",
)
@click.option(
    "--labels",
    default=None,
    callback=parse_labels,
    help="Conditional models: comma-separated labels of the samples, each in [0, N) for a model "
    "of N classes. A traversal or manifold decodes with the first one (class 0 if none is given).",
)
@click.option(
    "--jit-compile",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "on", "off"]),
    help="Draw samples under XLA; auto lets the model choose (on for samplers that loop over "
    "pixels).",
)
@click.option(
    "--x-axis",
    default="epoch",
    show_default=True,
    type=click.Choice(["epoch", "step"]),
    help="Curves by epoch (epoch_* scalars) or by step (batch_* scalars).",
)
@click.option(
    "--dataset",
    default=None,
    show_default="the run's own",
    help="Dataset of the real images; required for a SavedModel.",
)
@click.option(
    "--split",
    default="test",
    show_default=True,
    help="Split the real images come from (the first ones are used).",
)
@data_source_options
def plot(
    kind,
    path,
    out,
    num,
    seed,
    steps,
    dims,
    span,
    base,
    labels,
    jit_compile,
    x_axis,
    dataset,
    split,
    image_size,
    data_dir,
    manual_dir,
):
    """Draw KIND for MODEL_OR_RUN (a run directory or a SavedModel written by kgen; a run
    directory for `curves`) into a PNG.

    Kinds that show real images (reconstructions, interpolation, a traversal from an
    encoded image) take the first images of --split of the model's dataset."""
    from kgen.plots import check_supported
    from kgen.plots import save_figure

    kind = PLOT_KINDS[kind]
    settings = kind.settings(
        num=num,
        seed=seed,
        steps=steps,
        dims=dims,
        span=span,
        base=base,
        labels=labels and tuple(labels),
        x_axis=x_axis,
    )
    if kind.reads_run:
        figure = kind.draw(path, settings)
    else:
        from kgen.evaluation import load_model

        model, trained_with = load_model(path)
        check_supported(kind, model)
        _check_labels(labels, model)
        from kgen.models.image_sampler import ImageSampler

        settings = dataclasses.replace(
            settings, sampler=ImageSampler(model, jit_compile=jit_compile)
        )
        needed = kind.images_needed(model, settings)
        images, image_labels = None, None
        if needed:
            images, image_labels = _real_images(
                model, needed, trained_with, dataset, split, image_size, data_dir, manual_dir
            )
        figure = kind.draw(model, images, image_labels, settings)
    out = out or f"{kind.name}.png"
    save_figure(figure, out)
    click.echo(f"Wrote {kind.name} to {out}")


def _check_labels(labels, model):
    """A clean error for --labels outside the model's classes: the model's own check, said
    here before a traced sampler (which cannot check) draws unconditioned images."""
    from kgen.errors import ConfigError

    if not labels or not model.num_classes:
        return
    try:
        model.checked_labels(labels)
    except ValueError as error:
        raise ConfigError(f"--labels: {error}") from None


def _real_images(model, count, trained_with, dataset, split, image_size, data_dir, manual_dir):
    """The first `count` images of the split (and their labels for a conditional model)."""
    from kgen.data import images_and_labels
    from kgen.errors import ConfigError
    from kgen.evaluation import load_split

    data, info, _ = load_split(
        trained_with,
        split,
        dataset=dataset,
        image_size=image_size,
        data_dir=data_dir,
        manual_dir=manual_dir,
        limit=count,
    )
    images, labels = images_and_labels(data)
    if len(images) < count:
        raise ConfigError(
            f"This plot needs {count} images but {info.name}/{split} has {len(images)}; "
            "pass a smaller --num."
        )
    return images, labels if model.num_classes else None
