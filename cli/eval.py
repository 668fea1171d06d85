"""`kgen eval MODEL`: likelihood figures of a trained model on a dataset split."""

import json

import click


@click.command(name="eval")
@click.argument("model_path", metavar="MODEL", type=click.Path())
@click.option("--dataset", default=None, help="Dataset to evaluate on (default: the run's own; required for a SavedModel).")
@click.option("--image-size", default=None, type=click.IntRange(min=1), help="Centre-crop and resize images (default: the run's own).")
@click.option("--split", default="test", show_default=True, help="Split to evaluate.")
@click.option("--limit", default=None, type=click.IntRange(min=1), help="Use only the first N examples.")
@click.option("--data-dir", default=None, help="TFDS data directory.")
@click.option("--manual-dir", default=None, envvar="KGEN_MANUAL_DIR", help="Raw files for offline TFDS preparation. [env: KGEN_MANUAL_DIR]")
@click.option("--batch-size", default=100, show_default=True, type=click.IntRange(min=1), help="Images per batch.")
@click.option("--num-samples", default=1000, show_default=True, type=click.IntRange(min=1), help="Importance samples per image for sampled estimates (IWAE).")
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False), help="Also write the results to this JSON file.")
def eval_command(model_path, dataset, image_size, split, limit, data_dir, manual_dir, batch_size,
                 num_samples, json_path):
    """Negative log-likelihood figures (nats per image, bits per dimension) of MODEL, a run
    directory or a SavedModel written by kgen.

    Random draws (binarization, importance samples) come from the model's own generators,
    whose state the checkpoint holds: the same MODEL gives the same figures."""
    from kgen.data import load_source
    from kgen.errors import ConfigError
    from kgen.evaluation import evaluate_likelihood
    from kgen.evaluation import load_model

    model, trained_with = load_model(model_path)
    dataset = dataset or trained_with.get("dataset")
    if dataset is None:
        raise ConfigError("Pass --dataset: a SavedModel does not record what it was trained on.")
    data, info = load_source(
        dataset,
        split,
        data_dir=data_dir or trained_with.get("data_dir"),
        manual_dir=manual_dir or trained_with.get("manual_dir"),
        image_size=image_size or trained_with.get("image_size"),
        limit=limit,
    )
    try:
        with click.progressbar(length=info.num_examples, label=f"Evaluating on {info.name}/{split}", file=None) as bar:
            last = [0]

            def progress(done):
                bar.update(done - last[0])
                last[0] = done

            report = evaluate_likelihood(model, data, info, batch_size, num_samples, progress)
    except NotImplementedError as error:
        raise ConfigError(str(error)) from None
    report.update(model=model_path, dataset=info.name, split=split, num_samples=num_samples)
    for name, value in report.items():
        if isinstance(value, dict):
            click.echo(f"{name:<16} {value['nats']:10.2f} nats  {value['bits_per_dim']:.4f} bits/dim")
    click.echo(f"{'images':<16} {report['num_images']:10d}  ({report['seconds']:.0f} s)")
    if json_path:
        with open(json_path, "w") as handle:
            json.dump(report, handle, indent=2)
