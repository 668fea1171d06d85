"""`kgen eval MODEL`: likelihood and sample-quality figures of a trained model, with the
protocol that produced them."""

import click

from cli.options import data_source_options


@click.command(name="eval")
@click.argument("model_path", metavar="MODEL", type=click.Path())
@click.option(
    "--dataset",
    default=None,
    show_default="the run's own",
    help="Dataset to evaluate on; required for a SavedModel.",
)
@click.option(
    "--split",
    default="test",
    show_default=True,
    help="Split to evaluate on and compare samples with.",
)
@click.option(
    "--metrics",
    "metrics_spec",
    default=None,
    show_default="all the model has",
    help="Comma-separated, from nll,fid,kid,precision,recall. nll means the family's likelihood "
    "figures (PixelCNN: nll; VAE: negative_elbo, iwae_nll); a model without a likelihood (the "
    "GANs) refuses it.",
)
@click.option(
    "--num-samples",
    default=None,
    type=click.IntRange(min=2),
    show_default="as many as the split has",
    help="Images to generate for the sample-quality metrics.",
)
@click.option(
    "--protocol",
    type=click.Choice(["quick", "full"]),
    default="quick",
    show_default=True,
    help="quick: sized for a CPU (the VAE's IWAE bound with 100 importance samples, minutes); "
    "full: the published protocol (1000, about an hour for MNIST's test split on 2 CPU "
    "cores). Both score the whole split with as many samples as it holds, so every other "
    "figure is the same under either; the JSON protocol records the name.",
)
@click.option(
    "--importance-samples",
    default=None,
    type=click.IntRange(min=1),
    show_default="100, or 1000 with --protocol full",
    help="Importance samples per image for sampled likelihood estimates (the VAE's IWAE "
    "bound); overrides the protocol's.",
)
@click.option(
    "--features",
    type=click.Choice(["classifier", "inception"]),
    default="classifier",
    show_default=True,
    help="Feature extractor for FID/KID/precision/recall: the dataset's domain classifier "
    "(trained and cached on first use; offline) or InceptionV3 (ImageNet weights).",
)
@click.option(
    "--classifier",
    default=None,
    show_default="the dataset's own",
    help="Domain classifier: a SavedModel from `kgen fit classifier`, or the labelled dataset "
    "to train one on. An unlabelled dataset with a labelled twin uses the twin's "
    "(binarized_mnist uses mnist's).",
)
@click.option(
    "--inception-weights",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    show_default="download",
    help="Local InceptionV3 weights file (include_top=False), for --features inception "
    "without internet.",
)
@click.option(
    "--generator",
    type=click.Choice(["ema", "raw"]),
    default=None,
    show_default="ema for the GANs",
    help="Generator weights to sample with, for models that keep several (the GANs): "
    "the moving average (ema) or the last step's (raw). An error for a model with one set of "
    "weights. The JSON protocol records the choice as `generator`.",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=int,
    help="Seed of the generated images and KID's subsets.",
)
@click.option(
    "--limit",
    default=None,
    type=click.IntRange(min=1),
    show_default="all",
    help="Use only the first N examples of the split.",
)
@data_source_options
@click.option(
    "--batch-size",
    default=100,
    show_default=True,
    type=click.IntRange(min=1),
    help="Images per likelihood batch.",
)
@click.option(
    "--jit-compile",
    type=click.Choice(["auto", "on", "off"]),
    default="auto",
    show_default=True,
    help="XLA for sampling; auto = the model's own choice (on for PixelCNN).",
)
@click.option(
    "--json",
    "json_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Also write the report to this JSON file (atomically).",
)
def eval_command(
    model_path,
    dataset,
    split,
    metrics_spec,
    num_samples,
    protocol,
    importance_samples,
    features,
    classifier,
    inception_weights,
    generator,
    seed,
    image_size,
    limit,
    data_dir,
    manual_dir,
    batch_size,
    jit_compile,
    json_path,
):
    """Evaluate MODEL (a run directory or a SavedModel written by kgen) on a dataset split:
    negative log-likelihood in nats per image and bits per dimension (PixelCNN exactly; the
    VAE's ELBO and IWAE bound), and FID, KID and precision/recall of its samples against
    the split's images. Prints a table; --json writes the figures and their protocol; a run
    directory also gets them in TensorBoard (its eval/ folder).

    Random draws come from the model's generators (whose state the checkpoint holds) and
    --seed: the same MODEL and flags give the same figures."""
    from kgen.errors import ConfigError
    from kgen.evaluation import evaluate
    from kgen.evaluation import load_model
    from kgen.evaluation import load_split
    from kgen.evaluation import log_to_tensorboard
    from kgen.evaluation import resolve_importance_samples
    from kgen.evaluation import resolve_metrics
    from kgen.models import GenerativeModel
    from kgen.utils.files import write_json
    from kgen.workflows import feature_extractor

    model, trained_with = load_model(model_path)
    if not isinstance(model, GenerativeModel):
        raise ConfigError(
            f"{model_path!r} holds a {type(model).__name__}, not a generative model; "
            "its accuracy is the val_accuracy its run logged."
        )
    if generator:
        try:
            model.select_generator(generator)
        except ValueError as error:
            raise ConfigError(f"--generator {generator}: {error}") from None
    metrics = resolve_metrics(metrics_spec, model)
    data, info, source = load_split(
        trained_with,
        split,
        dataset=dataset,
        image_size=image_size,
        data_dir=data_dir,
        manual_dir=manual_dir,
        limit=limit,
    )
    importance_samples = resolve_importance_samples(protocol, importance_samples)
    click.echo(_plan(model, info, metrics, num_samples, protocol, importance_samples))
    extractor = None
    if any(name != "nll" for name in metrics):
        extractor = feature_extractor(
            features,
            source.pop("dataset"),
            info,
            classifier=classifier,
            inception_weights=inception_weights,
            announce=click.echo,
            **source,
        )
    likelihood_bar = _ProgressBar(f"Likelihood on {info.name}/{split}")
    sampling_bar = _ProgressBar("Sampling {total} images")
    with likelihood_bar, sampling_bar:
        report = evaluate(
            model,
            data,
            info,
            metrics=metrics,
            extractor=extractor,
            num_generated=num_samples,
            seed=seed,
            batch_size=batch_size,
            protocol=protocol,
            importance_samples=importance_samples,
            jit_compile=jit_compile,
            progress=lambda done: likelihood_bar.show(done, info.num_examples),
            sampling_progress=sampling_bar.show,
        )
    report = {"model": model_path, "dataset": info.name, "split": split, **report}
    _print_table(report)
    if "step" in trained_with:
        report["protocol"]["checkpoint_step"] = trained_with["step"]
        log_to_tensorboard(model_path, trained_with["step"], report, split)
    if json_path:
        write_json(json_path, report)


def _plan(model, info, metrics, num_samples, protocol, importance_samples):
    """One line saying what the evaluation will compute, before the passes (each with its
    progress bar and ETA) begin."""
    where = f"{info.num_examples:,} {info.name}/{info.split} images"
    passes = []
    if "nll" in metrics:
        sampled = model.sampled_likelihood
        how = f" ({importance_samples} importance samples each)" if sampled else ""
        passes.append(f"likelihood of {where}{how}")
    quality = [name for name in metrics if name != "nll"]
    if quality:
        num = num_samples or info.num_examples
        against = "them" if passes else where
        passes.append(f"{', '.join(quality)} of {num:,} samples against {against}")
    return f"Evaluating by the {protocol} protocol: {'; '.join(passes)}."


class _ProgressBar:
    """A click progress bar (with its ETA) that appears at its first update, with the
    total that update gives (`{total}` in the label is replaced by it): the passes of
    `evaluate` run one after another, and a pass that does not run shows nothing."""

    def __init__(self, label):
        self.label, self.bar = label, None

    def show(self, done, total):
        if self.bar is None:
            label = self.label.format(total=total)
            self.bar = click.progressbar(length=total, label=label).__enter__()
        self.bar.update(done - self.bar.pos)

    def __enter__(self):
        return self

    def __exit__(self, *error):
        if self.bar is not None:
            self.bar.__exit__(*error)


def _print_table(report):
    for name, value in report["metrics"].items():
        if name == "kid":
            click.echo(f"{name:<16} {value['mean']:10.5f}  ± {value['std']:.5f} (std over subsets)")
        elif name == "label_accuracy":
            ceiling = f"; on real images {value['real']:.4f}" if "real" in value else ""
            click.echo(
                f"{name:<16} {value['generated']:10.4f}  of samples classified as the label "
                f"they were drawn for{ceiling}"
            )
        elif isinstance(value, dict):
            click.echo(
                f"{name:<16} {value['nats']:10.2f} nats  {value['bits_per_dim']:.4f} bits/dim"
            )
        else:
            click.echo(f"{name:<16} {value:10.4f}")
    protocol = report["protocol"]
    if "feature_extractor" in protocol:
        extractor = protocol["feature_extractor"]
        accuracy = extractor.get("test_accuracy", extractor.get(f"{report['split']}_accuracy"))
        shown = f", accuracy {accuracy:.4f}" if accuracy is not None else ""
        click.echo(
            f"features: {extractor['name']}{shown}; {protocol['num_generated']} generated vs "
            f"{protocol['num_reference']} {report['dataset']}/{report['split']} images; "
            f"seed {protocol['seed']}"
        )
    if "likelihood" in protocol:
        click.echo(f"likelihood over {protocol['likelihood']['num_images']} images")
