"""`kgen export RUN_DIR`: write a SavedModel from a run's latest checkpoint."""

import click

from kgen.export import DEFAULT_MAX_SAMPLE_NUM
from kgen.export import MAX_SAMPLE_NUM_LIMIT


@click.command()
@click.argument("run_dir", type=click.Path())
@click.option(
    "--export",
    "export_base",
    default=None,
    show_default="saved_models/<model>_<dataset>",
    help="SavedModel base folder; the export is its next version.",
)
@click.option(
    "--max-sample-num",
    type=click.IntRange(1, MAX_SAMPLE_NUM_LIMIT),
    default=DEFAULT_MAX_SAMPLE_NUM,
    show_default=True,
    help="The most images one request to the `sample` or `sample_seeds` signature may ask "
    "for; the signatures refuse more.",
)
def export(run_dir, export_base, max_sample_num):
    """Re-export RUN_DIR's latest checkpoint as a new SavedModel version."""
    from kgen.workflows import export_run

    path = export_run(run_dir, export_base, max_sample_num)
    click.echo(f"SavedModel: {path}")
