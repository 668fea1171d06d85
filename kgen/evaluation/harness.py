"""One evaluation for every family: likelihood figures where the family has them, sample
quality for all, and a protocol that says how the numbers were made."""

import os
import time

from kgen import __version__
from kgen.data import images_and_labels
from kgen.errors import ConfigError
from kgen.evaluation.likelihood import evaluate_likelihood
from kgen.evaluation.sample_quality import SAMPLE_QUALITY_METRICS
from kgen.evaluation.sample_quality import ReferenceSet
from kgen.models.image_sampler import ImageSampler
from kgen.utils.files import safe_name

LIKELIHOOD = "nll"
METRICS = (LIKELIHOOD, *SAMPLE_QUALITY_METRICS)

# The protocols `kgen eval --protocol` names. Both score the whole split and draw as many
# samples as it holds, so exact likelihoods, the ELBO and the sample-quality figures are the
# same under either. They differ in the importance samples of sampled likelihood bounds (the
# VAE's IWAE), whose cost grows with them: k = 1000 over MNIST's test split takes about an
# hour on 2 CPU cores, k = 100 a tenth of that, for a bound a fraction of a nat looser.
PROTOCOLS = {
    "quick": {"importance_samples": 100},
    "full": {"importance_samples": 1000},
}
DEFAULT_PROTOCOL = "quick"


def resolve_metrics(spec, model):
    """The metric names to compute: `spec` (comma-separated) checked against what `model`
    offers, or by default every metric the model has (nll only with a likelihood)."""
    if spec is None:
        return [name for name in METRICS if name != LIKELIHOOD or model.has_likelihood]
    names = [name.strip().lower() for name in spec.split(",") if name.strip()]
    unknown = [name for name in names if name not in METRICS]
    if unknown or not names:
        raise ConfigError(f"--metrics {spec!r}: choose from {','.join(METRICS)} (comma-separated).")
    if LIKELIHOOD in names and not model.has_likelihood:
        raise ConfigError(
            f"{type(model).__name__} defines no likelihood: leave nll out of --metrics "
            f"(e.g. --metrics {','.join(SAMPLE_QUALITY_METRICS)})."
        )
    return names


def resolve_importance_samples(protocol, importance_samples=None):
    """The importance samples an evaluation by `protocol` uses: `importance_samples` if
    given, else the protocol's."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol {protocol!r}: choose from {', '.join(PROTOCOLS)}.")
    return importance_samples or PROTOCOLS[protocol]["importance_samples"]


def evaluate(
    model,
    data,
    info,
    *,
    metrics,
    extractor=None,
    num_generated=None,
    seed=0,
    batch_size=100,
    protocol=DEFAULT_PROTOCOL,
    importance_samples=None,
    jit_compile="auto",
    progress=None,
    sampling_progress=None,
):
    """Evaluate `model` against the split `data` (DatasetInfo `info`).

    Returns {"metrics": {name: value}, "protocol": {...}, "seconds": {...}}: likelihood
    figures under their own names ({"nats", "bits_per_dim"} each), "fid", "kid"
    ({"mean", "std"}), "precision", "recall"; for a conditional model scored by a domain
    classifier, "label_accuracy" ({"generated": the classifier's accuracy on the samples
    against the labels they were drawn for, "real": its accuracy on the split's images, the
    ceiling}). `num_generated` defaults to the number of
    reference images; `protocol` names an entry of PROTOCOLS, whose settings apply where
    the arguments (`importance_samples`) leave them unset; `jit_compile` is the
    --jit-compile setting of the sampler.
    `progress(done)` follows the likelihood pass (images scored so far),
    `sampling_progress(done, total)` the sampling (images drawn so far, of how many).
    """
    importance_samples = resolve_importance_samples(protocol, importance_samples)
    report = {"metrics": {}, "seconds": {}}
    protocol = {
        "name": protocol,
        "seed": seed,
        "reference_dataset": info.name,
        "reference_split": info.split,
        "kgen_version": __version__,
    }
    quality = [name for name in metrics if name in SAMPLE_QUALITY_METRICS]
    if LIKELIHOOD in metrics and quality:
        data = data.cache()  # both passes read the split; read it from its source once
    if LIKELIHOOD in metrics:
        figures = evaluate_likelihood(model, data, info, batch_size, importance_samples, progress)
        protocol["likelihood"] = {
            "num_images": figures.pop("num_images"),
            "importance_samples": importance_samples,
        }
        report["seconds"]["likelihood"] = figures.pop("seconds")
        report["metrics"].update(figures)
    if quality:
        start = time.perf_counter()
        images, labels = images_and_labels(data)
        reference = ReferenceSet(extractor, images, labels, split=info.split)
        report["seconds"]["reference_features"] = time.perf_counter() - start
        start = time.perf_counter()
        num = num_generated or len(images)
        sampler = ImageSampler(model, jit_compile=jit_compile)
        generated, requested = sampler.images_and_labels(num, seed, progress=sampling_progress)
        report["seconds"]["sampling"] = time.perf_counter() - start
        start = time.perf_counter()
        report["metrics"].update(reference.compare(generated, quality, seed=seed))
        if requested is not None and hasattr(extractor, "accuracy"):
            accuracy = {"generated": extractor.accuracy(generated, requested)}
            real = reference.extractor_protocol.get(f"{info.split}_accuracy")
            if real is not None:
                accuracy["real"] = real
            report["metrics"]["label_accuracy"] = accuracy
        report["seconds"]["sample_quality"] = time.perf_counter() - start
        protocol.update(reference.protocol(num))
        if model.generator_versions:
            protocol["generator"] = model.sampling_generator
    report["protocol"] = protocol
    return report


def metric_scalars(metrics):
    """Flat {tag: float} of a report's metrics, e.g. "iwae_nll/bits_per_dim", "kid/mean"."""
    flat = {}
    for name, value in metrics.items():
        if isinstance(value, dict):
            flat.update({f"{name}/{part}": float(number) for part, number in value.items()})
        else:
            flat[name] = float(value)
    return flat


def log_to_tensorboard(run_dir, step, report, split):
    """Write a report's metrics into `run_dir/eval` at the checkpoint's global `step`."""
    import tensorflow as tf

    writer = tf.summary.create_file_writer(os.path.join(run_dir, "eval"))
    prefix = safe_name(split)  # "train[:10%]" is a split too
    with writer.as_default(step=step):
        for tag, value in metric_scalars(report["metrics"]).items():
            tf.summary.scalar(f"{prefix}/{tag}", value)
    writer.close()
