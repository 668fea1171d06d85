"""SavedModel export: signatures, atomic versions, and loading with TensorFlow alone."""

import numpy as np
import pytest
import tensorflow as tf
from helpers import binary_batch
from helpers import build_small
from helpers import build_small_vae
from helpers import run_with_tensorflow_only
from tensorflow.core.protobuf import config_pb2

from kgen.errors import ModelNotFound
from kgen.export import export_saved_model
from kgen.export import load_saved_model
from kgen.export import resolve_saved_model
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
    """(model, its SavedModel loaded back) for each family, plain or conditional."""
    name, conditional = request.param
    model = build_small(name, conditional=conditional)
    path = export_saved_model(model, str(tmp_path_factory.mktemp("export") / name))
    return model, load_saved_model(path)


def _sample_seeds(loaded, seeds, labels=None):
    inputs = {"seeds": tf.constant(seeds, tf.int64)}
    if "labels" in loaded.signatures["sample_seeds"].structured_input_signature[1]:
        inputs["labels"] = tf.constant(labels, tf.int32)
    return loaded.signatures["sample_seeds"](**inputs)["images"].numpy()


def test_sample_seeds_rows_depend_on_their_own_seed_and_label_alone(seeded_export):
    model, loaded = seeded_export
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
    model, loaded = seeded_export
    assert _sample_seeds(loaded, [], []).shape == (0, *model.image_shape)
    assert model.sample_seeds(np.zeros([0], "int64")).shape == (0, *model.image_shape)


def test_every_family_exports_sample_seeds_and_pixelcnn_serves_it_by_default(seeded_export):
    model, loaded = seeded_export
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
