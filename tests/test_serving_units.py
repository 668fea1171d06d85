"""The pieces of `kgen serve` without a server: TF Serving's model config file read with its
own protos, version policies, version folders, the JSON rules (float text, type checks), the
CLI's refusals, and a bench run's report."""

import asyncio
import json
import os

import numpy as np
import pytest
from google.protobuf import text_format
from helpers import assert_clean_error
from helpers import invoke
from tensorflow_serving.config import model_server_config_pb2

from kgen.errors import ConfigError
from kgen.serving import json_tensor
from kgen.serving.model_config import ModelSpec
from kgen.serving.model_config import VersionPolicy
from kgen.serving.model_config import specs_from_config_file
from kgen.serving.model_config import specs_from_paths
from kgen.serving.scheduling import ModelGate
from kgen.serving.status import ServingError

CONFIG = """
model_config_list {
  config {
    name: "digits"
    base_path: "models/vae"
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 1 versions: 3 } }
    version_labels { key: "stable" value: 1 }
  }
  config {
    name: "pixels"
    base_path: "/abs/pixelcnn"
    model_version_policy { latest { num_versions: 2 } }
  }
  config { name: "all" base_path: "x" model_version_policy { all {} } }
}
"""


def _saved_model(folder):
    os.makedirs(folder, exist_ok=True)
    open(os.path.join(folder, "saved_model.pb"), "wb").close()


def test_model_config_file_is_read_with_tf_serving_protos(tmp_path):
    path = tmp_path / "models.config"
    path.write_text(CONFIG)
    # The same text parses with TF Serving's own message, as `tensorflow_model_server` reads it.
    parsed = text_format.Parse(CONFIG, model_server_config_pb2.ModelServerConfig())
    assert [model.name for model in parsed.model_config_list.config] == ["digits", "pixels", "all"]
    digits, pixels, every = specs_from_config_file(str(path))
    assert digits.base_path == str(tmp_path / "models" / "vae")
    assert digits.policy == VersionPolicy("specific", versions=(1, 3))
    assert digits.labels == {"stable": 1}
    assert pixels.base_path == "/abs/pixelcnn"
    assert pixels.policy == VersionPolicy("latest", num_versions=2)
    assert every.policy == VersionPolicy("all")


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("model_config_list { config { name: 'a' base_path: '/x' } } nonsense", "text format"),
        ("", "no model_config_list"),
        ("model_config_list { config { base_path: '/x' } }", "needs a name"),
        ("model_config_list { config { name: 'a' } }", "needs a base_path"),
        ("model_config_list { config { name: 'a' base_path: '/x' model_platform: 'onnx' } }",
         "TensorFlow SavedModels only"),
        ("model_config_list { config { name: 'a' base_path: '/x' } config { name: 'a' "
         "base_path: '/y' } }", "Two models are named 'a'"),
        ("model_config_list { config { name: 'a' base_path: '/x' model_version_policy "
         "{ specific { versions: 1 } } version_labels { key: 'b' value: 2 } } }",
         "does not serve"),
    ],
)  # fmt: skip
def test_bad_model_config_files_are_one_clear_error(tmp_path, text, fragment):
    path = tmp_path / "models.config"
    path.write_text(text)
    with pytest.raises(ConfigError, match="--model-config-file") as error:
        specs_from_config_file(str(path))
    assert fragment in str(error.value)


def test_version_policies():
    assert VersionPolicy().choose([1, 2, 5]) == [5]
    assert VersionPolicy("latest", num_versions=2).choose([1, 2, 5]) == [2, 5]
    assert VersionPolicy("all").choose([1, 2, 5]) == [1, 2, 5]
    assert VersionPolicy("specific", versions=(2, 7)).choose([1, 2, 5]) == [2]
    assert VersionPolicy().choose([]) == []


def test_only_numbered_complete_versions_count(tmp_path):
    for name in ("1", "0003", ".4-staging", "tmp", "12"):
        _saved_model(str(tmp_path / "m" / name))
    os.makedirs(tmp_path / "m" / "20")  # still being written: no saved_model.pb yet
    spec = ModelSpec("m", str(tmp_path / "m"))
    assert list(spec.versions_on_disk()) == [1, 3, 12]


def test_paths_name_models_as_tf_serving_would(tmp_path):
    _saved_model(str(tmp_path / "vae" / "2"))
    _saved_model(str(tmp_path / "plain"))
    (base,) = specs_from_paths([str(tmp_path / "vae")])
    version, plain = specs_from_paths([str(tmp_path / "vae" / "2"), str(tmp_path / "plain")])
    assert (base.name, base.policy) == ("vae", VersionPolicy())
    assert (version.name, version.policy) == ("vae", VersionPolicy("specific", versions=(2,)))
    assert (plain.name, plain.single_version) == ("plain", 1)
    assert list(plain.versions_on_disk()) == [1]
    with pytest.raises(ConfigError, match="--model-name names one model"):
        specs_from_paths([str(tmp_path / "vae"), str(tmp_path / "plain")], model_name="x")
    with pytest.raises(ConfigError, match="No folder at"):
        specs_from_paths([str(tmp_path / "missing")])


# --- JSON rules ---


@pytest.mark.parametrize(
    "value, text",
    [
        (2.5, "2.5"),
        (3.0, "3.0"),
        (0.1, "0.1"),
        (0.2, "0.2"),
        (100000.0, "100000.0"),
        (1e6, "1e+06"),
        (1234567.0, "1234567.0"),
        (3.14159274, "3.14159274"),
        (1e-05, "1e-05"),
        (-0.0, "-0.0"),
        (0.0, "0.0"),
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (1e-20, "1e-20"),
        (1.23456789e-20, "1.23456787e-20"),
        (3.4028235e38, "3.40282347e+38"),
    ],
)
def test_floats_print_as_tf_serving_prints_them(value, text):
    # TF Serving's WriteDecimal: 6 significant digits when they read back, else 9; ".0" on
    # whole numbers. Single values and whole arrays (the fast path) print alike.
    array = np.array([value, 0.5], np.float32)
    body = json_tensor.predict_response({"y": array}, False, None)
    assert body == '{\n    "outputs": [\n        ' + text + ",\n        0.5\n    ]\n}"
    row = json_tensor.predict_response({"y": array[:1]}, True, None)
    assert row == '{\n    "predictions": [' + text + "\n    ]\n}"


def test_fast_and_element_by_element_float_text_agree():
    rng = np.random.default_rng(0)
    values = np.concatenate(
        [rng.random(5000), rng.normal(size=5000) * 1e3, 10.0 ** rng.uniform(-13, 5.9, 5000)]
    ).astype(np.float32)
    fast = json.dumps(json_tensor._json_numbers(values).tolist())[1:-1].split(", ")
    assert fast == json_tensor._float_tokens(values)
    parsed = np.array([float(token) for token in fast], np.float32)
    assert np.array_equal(parsed.view(np.int32), values.view(np.int32))


def test_layouts_of_several_outputs():
    outputs = {
        "b": np.array([3, 4], np.int64),
        "a": np.array([[1.0, 2.0], [0.5, 0.25]], np.float32),
    }
    assert json_tensor.predict_response(outputs, True, None) == (
        '{\n    "predictions": [\n        {\n            "a": [1.0, 2.0],\n            "b": 3\n'
        '        },\n        {\n            "a": [0.5, 0.25],\n            "b": 4\n        }\n'
        "    ]\n}"
    )
    assert json_tensor.predict_response(outputs, False, None) == (
        '{\n    "outputs": {\n        "a": [\n            [\n                1.0,\n'
        "                2.0\n            ],\n            [\n                0.5,\n"
        '                0.25\n            ]\n        ],\n        "b": [\n            3,\n'
        "            4\n        ]\n    }\n}"
    )
    with pytest.raises(ServingError, match="inconsistent batch size: 3 expecting: 2"):
        json_tensor.predict_response({"a": np.zeros(2), "b": np.zeros(3)}, True, None)


def test_strings_and_bytes_in_both_formats():
    # Outputs named *_bytes are written as {"b64": ...}, as TF Serving writes them.
    outputs = {
        "text": np.array([b"ab", "h\u00e9".encode()], dtype=object),
        "raw_bytes": np.array([b"\x00\xff", b"cd"], dtype=object),
        "length": np.array([2, 3], np.int32),
    }
    rows = json.loads(json_tensor.predict_response(outputs, True, None))["predictions"]
    assert rows == [
        {"length": 2, "raw_bytes": {"b64": "AP8="}, "text": "ab"},
        {"length": 3, "raw_bytes": {"b64": "Y2Q="}, "text": "h\u00e9"},
    ]
    columns = json.loads(json_tensor.predict_response(outputs, False, None))["outputs"]
    assert columns["text"] == ["ab", "h\u00e9"] and columns["length"] == [2, 3]


@pytest.mark.parametrize(
    "value, dtype, message",
    [
        (1.5, np.int32, "JSON Value: 1.5 Type: Number is not of expected type: int32"),
        (True, np.int64, "JSON Value: true Type: True is not of expected type: int64"),
        (1, np.bool_, "JSON Value: 1 Type: Number is not of expected type: bool"),
        ("x", np.float32, 'JSON Value: "x" Type: String is not of expected type: float'),
        (2**63, np.int64,
         "JSON Value: 9223372036854775808 Type: Number is not of expected type: int64"),
        (-1, np.uint32, "JSON Value: -1 Type: Number is not of expected type: uint32"),
        (16777216, np.float32,
         "Cannot convert JSON value: 16777216 to float without loss of precision."),
        (2**53, np.float64,
         "Cannot convert JSON value: 9007199254740992 to double without loss of precision."),
        ({"b64": "!!"}, np.object_, "Unable to base64 decode"),
    ],
)  # fmt: skip
def test_type_rules(value, dtype, message):
    with pytest.raises(ServingError) as error:
        json_tensor.to_array([value], dtype)
    assert error.value.message == message


def test_values_that_convert():
    assert json_tensor.to_array([[1, 2.5], [16777215, 0]], np.float32).dtype == np.float32
    assert json_tensor.to_array([{"b64": "aGk="}, "yo"], np.object_).tolist() == [b"hi", b"yo"]
    assert json_tensor.to_array(7, np.int64).shape == ()
    assert json_tensor.to_array([], np.float32).shape == (0,)


def test_json_parse_errors_and_depth():
    with pytest.raises(ServingError, match=r"Invalid value\. at offset: 0"):
        json_tensor.load_json(b"instances = [1]", 32)
    with pytest.raises(ServingError, match="Missing a comma or '}' after an object member"):
        json_tensor.load_json(b'{"a": 1 "b": 2}', 32)
    with pytest.raises(ServingError, match="--max-json-depth"):
        json_tensor.load_json(b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}", 32)
    # Brackets inside strings do not count; duplicate keys keep the first, as rapidjson.
    assert json_tensor.load_json(b'{"a": "[[[[[[", "a": 2}', 3) == {"a": "[[[[[["}


# --- The command line ---


def test_serve_refuses_bad_arguments_cleanly(tmp_path):
    assert_clean_error(invoke("serve"), "but not both")
    assert_clean_error(invoke("serve", str(tmp_path / "missing")), "No folder at")
    config = tmp_path / "bad.config"
    config.write_text("model_config_list {")
    assert_clean_error(invoke("serve", "--model-config-file", str(config)), "text format")
    result = invoke("serve", str(tmp_path), "--port", "70000")
    assert result.exit_code == 2 and "70000" in result.output


# --- The per-model gate ---


def test_gate_queues_refuses_and_hands_slots_over_in_order():
    async def scenario():
        gate = ModelGate("m", max_concurrent=1, max_queued=1)
        await gate.enter()
        second = asyncio.create_task(gate.enter())
        await asyncio.sleep(0)
        with pytest.raises(ServingError) as refused:
            await gate.enter()
        assert refused.value.http_status == 503 and refused.value.headers == {"Retry-After": "1"}
        gate.leave()
        await second  # the slot passed to the waiting request
        assert (gate.running, gate.queued) == (1, 0)

    asyncio.run(scenario())


@pytest.mark.parametrize("slot_first", [False, True])
def test_gate_survives_a_wait_given_up_as_the_slot_frees(slot_first):
    # A deadline cancels a queued request in the same turn of the loop as a slot frees:
    # whichever comes first, the slot is neither lost nor given twice.
    async def scenario():
        gate = ModelGate("m", max_concurrent=1, max_queued=2)
        await gate.enter()
        waiter = asyncio.create_task(gate.enter())
        await asyncio.sleep(0)
        if slot_first:
            gate.leave()
            waiter.cancel()
        else:
            waiter.cancel()
            gate.leave()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert (gate.running, gate.queued) == (0, 0)
        await gate.enter()
        assert gate.running == 1

    asyncio.run(scenario())
