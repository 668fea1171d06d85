"""Training runs end to end: train (measuring samples during training when asked), then
export; and re-exporting a run's latest checkpoint."""

import dataclasses

from kgen.data import images_and_labels
from kgen.errors import ConfigError
from kgen.evaluation.sample_quality import ReferenceSet
from kgen.export.saved_model import DEFAULT_MAX_SAMPLE_NUM
from kgen.export.saved_model import ExportMetadata
from kgen.export.saved_model import default_export_dir
from kgen.models import GenerativeModel
from kgen.models import get_family
from kgen.training.build import load_data
from kgen.training.build import model_from_run
from kgen.training.driver import checked_train_config
from kgen.training.driver import fit
from kgen.training.sample_quality import SampleQualityCallback
from kgen.training.strategy import worker_values
from kgen.workflows.classifiers import feature_extractor
from kgen.workflows.exports import export_model


def train(family_name, model_config, train_config, runs_root="runs", verbose="auto", announce=None):
    """Train a model of `family_name`, resuming its unfinished run if there is one, and export
    it as the next SavedModel version: what `kgen fit` runs.

    With `train_config.fid_every`, FID and KID of the model's samples are logged every N
    epochs, against the dataset's domain classifier (trained first if it is not cached).
    `announce(message)`, if given, hears where the run lives and what is trained first.
    Returns kgen.training's FitResult with `export_dir` set on the process that exports
    (the chief). Raises TrainingDiverged when the loss stops being finite.
    """
    family = get_family(family_name)
    train_config = checked_train_config(train_config, family)
    data, extra_callbacks = None, None
    if train_config.fid_every:
        data, extra_callbacks = _sample_quality_during_training(train_config, family, announce)
    result = fit(
        family_name,
        model_config,
        train_config,
        runs_root,
        verbose,
        announce,
        data=data,
        extra_callbacks=extra_callbacks,
    )
    if not result.chief:
        return result
    export_base = train_config.export or default_export_dir(family.name, result.dataset_info.name)
    metadata = ExportMetadata(
        family=family.name, dataset=result.dataset_info.name, step=result.final_step
    )
    export_dir = export_model(result.model, export_base, metadata=metadata)
    return dataclasses.replace(result, export_dir=export_dir)


def export_run(run_dir, export_base=None, max_sample_num=DEFAULT_MAX_SAMPLE_NUM):
    """Export `run_dir`'s latest checkpoint as the next SavedModel version; return its path.
    `max_sample_num`: the most images one sampling request may ask for."""
    model, record = model_from_run(run_dir)
    export_base = export_base or default_export_dir(record["family"], record["dataset"]["name"])
    metadata = ExportMetadata(
        family=record["family"], dataset=record["dataset"]["name"], step=record["step"]
    )
    return export_model(model, export_base, max_sample_num=max_sample_num, metadata=metadata)


def _sample_quality_during_training(train_config, family, announce):
    """(the run's data if loaded here, else None; extra_callbacks for `fit`) measuring FID
    and KID every --fid-every epochs on the chief."""
    extractor, data = None, None
    multi_worker = train_config.strategy == "multi-worker"
    if not multi_worker:
        # Training the domain classifier (on first use) runs `fit` under a strategy of its
        # own; made while this run's exists, two strategies over the same devices collide
        # ("Shape mismatch in the collective instance"). So it is ready before this one.
        data = load_data(train_config, family)
        extractor = _fid_extractor(train_config, data[2], announce)

    def extra_callbacks(setup):
        if not isinstance(setup.model, GenerativeModel):
            raise ConfigError(
                f"--fid-every measures samples; a {type(setup.model).__name__} draws none."
            )
        chosen = extractor
        if multi_worker:
            chosen = _cached_fid_extractor(setup, announce)
        if not setup.chief:
            return []
        real = setup.eval_data if setup.eval_data is not None else setup.train_data
        images, _ = images_and_labels(real.take(train_config.fid_samples))
        return [
            SampleQualityCallback(
                ReferenceSet(chosen, images),
                train_config.fid_every,
                train_config.fid_samples,
                seed=setup.seed,
                jit_compile=train_config.jit_compile,
            )
        ]

    return data, extra_callbacks


def _fid_extractor(train_config, info, announce, train_missing=True):
    """The feature extractor of the in-training FID/KID: the --fid-classifier or the
    dataset's cached domain classifier, trained first if missing and `train_missing`."""
    return feature_extractor(
        "classifier",
        train_config.dataset,
        info,
        classifier=train_config.fid_classifier,
        announce=announce,
        image_size=train_config.image_size,
        data_dir=train_config.data_dir,
        manual_dir=train_config.manual_dir,
        train_missing=train_missing,
    )


def _cached_fid_extractor(setup, announce):
    """The chief's extractor under --strategy multi-worker, which cannot train a classifier
    (TensorFlow's runtime must not start before MultiWorkerMirroredStrategy exists). Every
    worker hears whether the chief has one, so all refuse together instead of some waiting
    forever for the others."""
    extractor, problem = None, None
    if setup.chief:
        try:
            extractor = _fid_extractor(
                setup.train_config, setup.info, announce, train_missing=False
            )
        except ConfigError as error:
            problem = error
    if 0 in worker_values(setup.strategy, int(problem is None)).values():
        raise ConfigError(
            "--fid-every under --strategy multi-worker needs a domain classifier ready before "
            f"training: {problem or 'the chief has none (see its error).'}"
        )
    return extractor
