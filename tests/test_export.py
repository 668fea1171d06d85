"""SavedModel export: signatures, atomic versions, and loading with TensorFlow alone."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from helpers import binary_batch
from helpers import build_small
from helpers import build_small_vae
from helpers import invoke
from helpers import run_with_tensorflow_only
from tensorflow.core.protobuf import config_pb2
from tensorflow_serving.apis import prediction_log_pb2

from kgen.errors import ConfigError
from kgen.errors import ModelNotFound
from kgen.export import DEFAULT_MAX_SAMPLE_NUM
from kgen.export import ExportMetadata
from kgen.export import export_saved_model
from kgen.export import load_saved_model
from kgen.export import resolve_saved_model
from kgen.export import saved_model_metadata
from kgen.export.sampling import sample_saved_model
from kgen.models import PixelCNN

# Decodes with the SavedModel alone, as a server would.
DECODE = """
decode_inputs = {"z": tf.constant(inputs["z"])}
if "labels" in inputs:
    decode_inputs["labels"] = tf.constant(inputs["labels"], tf.int32)
outputs["images"] = loaded.signatures["decode"](**decode_inputs)["images"].numpy()
"""


def serve_in_session(path, signature_name, **inputs):
    """{output name: numpy array} of the signature `signature_name` run as TF Serving runs it:
    the SavedModel loaded into a graph and a session (tf.compat.v1's loader, which does what
    TF Serving's C++ loader does: restore the variables, then run the signature's tensors by
    name), the `inputs` (numpy, by input name) fed through a session callable. Unlike
    `Session.run`, a callable does not check the fed shapes against the signature's; neither
    does TF Serving, so a test can feed what a client could send."""
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
        signature = tf.compat.v1.saved_model.load(session, ["serve"], path).signature_def[
            signature_name
        ]
        outputs = sorted(signature.outputs)
        options = config_pb2.CallableOptions(
            feed=[signature.inputs[name].name for name in inputs],
            fetch=[signature.outputs[name].name for name in outputs],
        )
        # The public make_callable goes through Session.run's Python shape check.
        run = session._make_callable_from_options(options)
        return dict(zip(outputs, run(*[np.asarray(value) for value in inputs.values()])))


@pytest.mark.parametrize("conditional", [False, True])
def test_saved_model_in_a_tensorflow_only_process_gives_identical_decode(tmp_path, conditional):
    model = build_small_vae(conditional=conditional)
    path = export_saved_model(model, str(tmp_path / "vae"))
    z = np.random.default_rng(0).normal(size=(5, 8)).astype("float32")
    labels = [0, 1, 2, 3, 9] if conditional else None
    given = {"z": z} if labels is None else {"z": z, "labels": np.array(labels, "int32")}
    out = run_with_tensorflow_only(path, DECODE, **given)
    np.testing.assert_array_equal(out["images"], model.decode(z, labels).numpy())


def test_a_graph_and_session_loader_serves_the_trained_weights(tmp_path):
    # TF Serving restores the variables the saver knows and runs the signatures' tensors: both
    # must be the same variables (tf.saved_model.load would not notice if they were not).
    model = build_small_vae(conditional=True)
    path = export_saved_model(model, str(tmp_path / "vae"))
    z = np.random.default_rng(0).normal(size=(3, 8)).astype("float32")
    labels = np.array([0, 4, 9], "int32")
    images = serve_in_session(path, "decode", z=z, labels=labels)["images"]
    np.testing.assert_array_equal(images, model.decode(z, labels).numpy())


def test_signatures_and_serving_default(tmp_path):
    model = build_small_vae()
    loaded = load_saved_model(export_saved_model(model, str(tmp_path / "vae")))
    assert set(loaded.signatures) == {
        "sample",
        "sample_seeds",
        "encode",
        "decode",
        "reconstruct",
        "serving_default",
    }
    images, _ = binary_batch(num=3)
    outputs = loaded.signatures["encode"](images=tf.constant(images))
    np.testing.assert_allclose(
        outputs["mean"].numpy(), model.encode(images)[0].numpy(), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        loaded.signatures["reconstruct"](images=tf.constant(images))["images"].numpy(),
        model.reconstruct(images).numpy(),
        rtol=1e-5,
        atol=1e-6,
    )
    # serving_default is decode, and every signature keeps a batch dimension (TF Serving REST).
    z = tf.zeros((2, 8))
    np.testing.assert_array_equal(
        loaded.signatures["serving_default"](z=z)["images"].numpy(),
        loaded.signatures["decode"](z=z)["images"].numpy(),
    )
    sample = loaded.signatures["sample"]
    first = sample(num=tf.constant(4), seed=tf.constant(11, tf.int64))["images"].numpy()
    assert first.shape == (4, 28, 28, 1)
    np.testing.assert_array_equal(
        first, sample(num=tf.constant(4), seed=tf.constant(11, tf.int64))["images"].numpy()
    )
    np.testing.assert_array_equal(first, model.sample(4, seed=tf.constant(11, tf.int64)).numpy())


def test_versions_are_added_atomically_and_resolved(tmp_path):
    model = build_small_vae()
    base = tmp_path / "vae"
    first, second = export_saved_model(model, str(base)), export_saved_model(model, str(base))
    assert first.endswith("/1") and second.endswith("/2")
    assert resolve_saved_model(str(base)) == second
    assert resolve_saved_model(first) == first
    assert sorted(p.name for p in base.iterdir()) == ["1", "2"]  # no staging folders left
    assert (base / "2" / "model.keras").is_file()


def test_failed_export_leaves_nothing_behind(tmp_path, monkeypatch):
    model = build_small_vae()

    def broken_save(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", broken_save)
    with pytest.raises(RuntimeError, match="disk full"):
        export_saved_model(model, str(tmp_path / "vae"))
    assert list((tmp_path / "vae").iterdir()) == []


def test_missing_saved_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFound, match="No SavedModel"):
        resolve_saved_model(str(tmp_path / "nothing"))


# --- sample_seeds: one image per seed, each a function of its own row ---

SEEDED_FAMILIES = [("vae", False), ("gan", True), ("wgan-gp", False), ("pixelcnn", False)]
SEEDED_FAMILIES += [("pixelcnn", True)]


@pytest.fixture(scope="module", params=SEEDED_FAMILIES, ids=lambda p: "-".join(map(str, p)))
def seeded_export(request, tmp_path_factory):
    """(model, its SavedModel loaded back, its path) for each family, plain or conditional."""
    name, conditional = request.param
    model = build_small(name, conditional=conditional)
    path = export_saved_model(model, str(tmp_path_factory.mktemp("export") / name))
    return model, load_saved_model(path), path


def _sample_seeds(loaded, seeds, labels=None):
    inputs = {"seeds": tf.constant(seeds, tf.int64)}
    if "labels" in loaded.signatures["sample_seeds"].structured_input_signature[1]:
        inputs["labels"] = tf.constant(labels, tf.int32)
    return loaded.signatures["sample_seeds"](**inputs)["images"].numpy()


def test_sample_seeds_rows_depend_on_their_own_seed_and_label_alone(seeded_export):
    model, loaded, _ = seeded_export
    seeds, labels = [11, 12, 13], [3, 5, 7]
    rows = _sample_seeds(loaded, seeds, labels)
    assert rows.shape == (3, *model.image_shape)
    # Alone, or with other seeds after it: bit for bit the same image.
    np.testing.assert_array_equal(_sample_seeds(loaded, seeds[:1], labels[:1])[0], rows[0])
    # Permuting the seeds (with their labels) permutes the images.
    order = [2, 0, 1]
    permuted = _sample_seeds(loaded, [seeds[i] for i in order], [labels[i] for i in order])
    np.testing.assert_array_equal(permuted, rows[order])
    assert not np.array_equal(rows[0], rows[1])  # the seeds do matter
    # The same seed draws what the Keras model's `sample(1, seed)` draws.
    label = None if not model.num_classes else labels[:1]
    np.testing.assert_array_equal(
        rows[0], model.sample(1, seed=tf.constant(seeds[0], tf.int64), labels=label)[0].numpy()
    )


def test_sample_seeds_of_no_seeds_is_an_empty_batch(seeded_export):
    model, loaded, _ = seeded_export
    assert _sample_seeds(loaded, [], []).shape == (0, *model.image_shape)
    labels = np.zeros([0], "int32") if model.num_classes else None
    assert model.sample_seeds(np.zeros([0], "int64"), labels).shape == (0, *model.image_shape)


def test_every_family_exports_sample_seeds_and_pixelcnn_serves_it_by_default(seeded_export):
    model, loaded, _ = seeded_export
    assert {"sample", "sample_seeds", "serving_default"} <= set(loaded.signatures)
    if isinstance(model, PixelCNN):
        default = loaded.signatures["serving_default"]
        expected = {"seeds"} | ({"labels"} if model.num_classes else set())
        assert set(default.structured_input_signature[1]) == expected
        labels = [1, 0] if model.num_classes else None
        inputs = {"seeds": tf.constant([4, 2], tf.int64)}
        if labels:
            inputs["labels"] = tf.constant(labels, tf.int32)
        np.testing.assert_array_equal(
            default(**inputs)["images"].numpy(), _sample_seeds(loaded, [4, 2], labels)
        )


# Draws with sample_seeds from the SavedModel alone, as a server would.
SAMPLE_SEEDS = """
given = {"seeds": tf.constant(inputs["seeds"]), "labels": tf.constant(inputs["labels"])}
outputs["images"] = loaded.signatures["sample_seeds"](**given)["images"].numpy()
outputs["default"] = loaded.signatures["serving_default"](**given)["images"].numpy()
"""


def test_sample_seeds_in_a_tensorflow_only_process(tmp_path):
    # The conditional PixelCNN, which serves sample_seeds by default.
    path = export_saved_model(build_small("pixelcnn", conditional=True), str(tmp_path / "p"))
    seeds, labels = np.array([3, 1, 4], "int64"), np.array([0, 5, 9], "int32")
    out = run_with_tensorflow_only(path, SAMPLE_SEEDS, seeds=seeds, labels=labels)
    np.testing.assert_array_equal(
        out["images"], _sample_seeds(load_saved_model(path), seeds, labels)
    )
    np.testing.assert_array_equal(out["default"], out["images"])


# --- Guards: each signature checks its inputs in the graph ---


@pytest.fixture(scope="module")
def guarded_vae(tmp_path_factory):
    """(conditional VAE, its SavedModel path) exported with max_sample_num 5."""
    model = build_small_vae(conditional=True)
    path = export_saved_model(
        model, str(tmp_path_factory.mktemp("export") / "cvae"), max_sample_num=5
    )
    return model, path


def _sample(loaded, num, labels, seed=0):
    return loaded.signatures["sample"](
        num=tf.constant(num),
        seed=tf.constant(seed, tf.int64),
        labels=tf.constant(labels, tf.int32),
    )


def test_sample_refuses_a_num_outside_zero_to_max_sample_num(guarded_vae):
    loaded = load_saved_model(guarded_vae[1])
    assert _sample(loaded, 5, [0])["images"].shape[0] == 1  # the bound itself is allowed
    for num in (6, -1):
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"num must lie in \[0, 5\]"):
            _sample(loaded, num, [0])
    with pytest.raises(tf.errors.InvalidArgumentError, match="at most 5 labels per request"):
        _sample(loaded, 0, [0] * 6)  # one image per label, so labels count too


def test_sample_seeds_refuses_more_seeds_than_max_sample_num(guarded_vae):
    loaded = load_saved_model(guarded_vae[1])
    assert _sample_seeds(loaded, range(5), [0] * 5).shape[0] == 5
    with pytest.raises(tf.errors.InvalidArgumentError, match="at most 5 seeds per request"):
        _sample_seeds(loaded, range(6), [0] * 6)
    with pytest.raises(tf.errors.InvalidArgumentError, match="got 2 labels for 3 seeds"):
        _sample_seeds(loaded, range(3), [0, 1])


def test_every_signature_taking_labels_refuses_a_label_outside_the_classes(guarded_vae):
    # Before the guards, label 12 on a 10-class model silently drew an unconditioned image.
    loaded = load_saved_model(guarded_vae[1])
    images, _ = binary_batch(num=2)
    bad = tf.constant([3, 12], tf.int32)
    calls = {
        "sample": lambda: _sample(loaded, 0, [3, 12]),
        "sample_seeds": lambda: _sample_seeds(loaded, [1, 2], [3, 12]),
        "decode": lambda: loaded.signatures["decode"](z=tf.zeros((2, 8)), labels=bad),
        "encode": lambda: loaded.signatures["encode"](images=tf.constant(images), labels=bad),
        "reconstruct": lambda: loaded.signatures["reconstruct"](
            images=tf.constant(images), labels=bad
        ),
    }
    for name, call in calls.items():
        with pytest.raises(
            tf.errors.InvalidArgumentError, match=rf"{name}: labels must lie in \[0, 10\)"
        ):
            call()
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"got \[-1\]"):
        loaded.signatures["decode"](z=tf.zeros((1, 8)), labels=tf.constant([-1]))


@pytest.mark.parametrize("shape", [(2, 30, 30, 1), (2, 28, 28, 3), (2, 28, 28), (2, 28, 28, 1, 1)])
def test_images_of_another_shape_are_refused_in_the_graph(guarded_vae, shape):
    # The signature's spec stops them in Python; a server feeds the graph directly.
    labels = np.array([0, 1], "int32")
    given = " ".join(map(str, shape))
    for name in ("encode", "reconstruct"):
        with pytest.raises(
            tf.errors.InvalidArgumentError,
            match=rf"{name}: images must be float32 \[N, 28, 28, 1\].*got shape \[{given}\]",
        ):
            serve_in_session(guarded_vae[1], name, images=np.zeros(shape, "float32"), labels=labels)
    good = serve_in_session(
        guarded_vae[1], "encode", images=np.zeros((2, 28, 28, 1), "float32"), labels=labels
    )
    assert good["mean"].shape == (2, 8)


def test_sampling_an_export_draws_past_max_sample_num_in_chunks(guarded_vae):
    # The export draws at most 5 per call: 12 images are 3 calls, with seeds 7, 8 and 9.
    model, path = guarded_vae
    labels = list(range(10)) + [0, 1]
    images = sample_saved_model(path, 0, 7, labels)
    loaded = load_saved_model(path)
    assert images.shape[0] == 12
    for call, start in enumerate(range(0, 12, 5)):
        chunk = _sample(loaded, 0, labels[start : start + 5], seed=7 + call)["images"]
        np.testing.assert_array_equal(images[start : start + 5], chunk.numpy())


def test_max_sample_num_must_be_a_positive_int(tmp_path):
    model = build_small_vae()
    for bad in (0, 100_001, 2.5):
        with pytest.raises(ConfigError, match=r"max_sample_num must be an int in \[1, 100000\]"):
            export_saved_model(model, str(tmp_path / "vae"), max_sample_num=bad)
    result = invoke("export", tmp_path / "run", "--max-sample-num", 0)
    assert result.exit_code == 2 and "--max-sample-num" in result.output


# --- assets.extra/kgen.json: what a client or server reads before calling ---

KGEN_JSON_KEYS = {
    "family",
    "image_shape",
    "latent_dim",
    "num_classes",
    "likelihood",
    "dataset",
    "step",
    "kgen_version",
    "keras_version",
    "tensorflow_version",
    "max_sample_num",
    "serving_default",
    "signatures",
}


def test_kgen_json_describes_the_model_and_its_signatures(seeded_export):
    model, loaded, path = seeded_export
    metadata = saved_model_metadata(path)
    assert set(metadata) == KGEN_JSON_KEYS
    assert metadata["image_shape"] == list(model.image_shape)
    assert metadata["latent_dim"] == model.latent_dim  # None for PixelCNN
    assert metadata["num_classes"] == model.num_classes
    assert metadata["likelihood"] == model.likelihood_name  # None for the GANs
    assert metadata["signatures"] == sorted(loaded.signatures)
    assert metadata["serving_default"] == model.serving_default
    assert metadata["max_sample_num"] == DEFAULT_MAX_SAMPLE_NUM
    # Exported without a run: where it came from is unknown.
    assert (metadata["family"], metadata["dataset"], metadata["step"]) == (None, None, None)
    assert metadata["tensorflow_version"] == tf.__version__


def test_kgen_json_records_the_given_run_metadata(tmp_path):
    model = build_small_vae(conditional=True)
    path = export_saved_model(
        model,
        str(tmp_path / "vae"),
        max_sample_num=64,
        metadata=ExportMetadata(family="vae", dataset="mnist", step=1200),
    )
    with open(os.path.join(path, "assets.extra", "kgen.json")) as file:
        metadata = json.load(file)
    assert metadata == {
        **metadata,
        "family": "vae",
        "image_shape": [28, 28, 1],
        "latent_dim": 8,
        "num_classes": 10,
        "likelihood": "bernoulli",
        "dataset": "mnist",
        "step": 1200,
        "max_sample_num": 64,
        "serving_default": "decode",
        "signatures": [
            "decode",
            "encode",
            "reconstruct",
            "sample",
            "sample_seeds",
            "serving_default",
        ],
    }


# --- assets.extra/tf_serving_warmup_requests: TF Serving replays them before serving ---


def _warmup_requests(path):
    """(signature name, {input name: numpy}) of each record of the export's warm-up file."""
    records = tf.data.TFRecordDataset(
        os.path.join(path, "assets.extra", "tf_serving_warmup_requests")
    )
    requests = []
    for record in records:
        request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
        inputs = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
        requests.append((request.model_spec.signature_name, inputs))
    return requests


def test_warmup_requests_hold_one_valid_request_per_signature(seeded_export):
    model, loaded, path = seeded_export
    requests = _warmup_requests(path)
    # serving_default too: in the graph it is a signature of its own, first run apart.
    assert [name for name, _ in requests] == sorted(loaded.signatures)
    for name, inputs in requests:
        signature = loaded.signatures[name]
        assert set(inputs) == set(signature.structured_input_signature[1])
        outputs = signature(**{key: tf.constant(value) for key, value in inputs.items()})
        assert all(output.shape[0] == 1 for output in outputs.values()), name


def test_warmup_requests_run_in_a_session_as_tf_serving_replays_them(guarded_vae):
    _, path = guarded_vae
    for name, inputs in _warmup_requests(path):
        outputs = serve_in_session(path, name, **inputs)
        assert all(output.shape[0] == 1 for output in outputs.values()), name
