"""`kgen sample`: draw images from an exported model into a PNG grid."""

import click

from cli.options import parse_labels


@click.command()
@click.argument("saved_model", type=click.Path())
@click.option(
    "--num",
    default=64,
    show_default=True,
    type=click.IntRange(min=1),
    help="Number of images. Ignored when --labels is given.",
)
@click.option(
    "--seed", default=0, show_default=True, type=int, help="Random seed; same seed, same images."
)
@click.option(
    "--labels",
    default=None,
    callback=parse_labels,
    help="Comma-separated class labels, one image each. Required for conditional models and "
    "rejected by the others. Each must lie in [0, N) for a model of N classes.",
)
@click.option(
    "--out",
    default="samples.png",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="PNG file to write.",
)
def sample(saved_model, num, seed, labels, out):
    """Sample images from SAVED_MODEL (a SavedModel folder or its base with version folders)."""
    from kgen.export.sampling import sample_saved_model
    from kgen.utils.images import save_png

    images = sample_saved_model(saved_model, num, seed, labels)
    save_png(out, images)
    click.echo(f"Wrote {len(images)} images to {out}")
