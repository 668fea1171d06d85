"""`kgen export RUN_DIR`: write a SavedModel from a run's latest checkpoint."""

import click


@click.command()
@click.argument("run_dir", type=click.Path())
@click.option(
    "--export",
    "export_base",
    default=None,
    show_default="saved_models/<model>_<dataset>",
    help="SavedModel base folder; the export is its next version.",
)
def export(run_dir, export_base):
    """Re-export RUN_DIR's latest checkpoint as a new SavedModel version."""
    from kgen.workflows import export_run

    path = export_run(run_dir, export_base)
    click.echo(f"SavedModel: {path}")
