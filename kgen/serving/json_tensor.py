"""TF Serving's JSON <-> tensor conversions, rule for rule (its util/json_tensor.cc): request
bodies in row format (`instances`) or columnar format (`inputs`) to numpy arrays of the
signature's dtypes, and outputs back to `predictions` / `outputs` printed as TF Serving prints
them; with its error messages. The status and metadata bodies of the model routes too."""

import base64
import binascii
import json
import math
import re

import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2

from kgen.serving.status import ServingError
from kgen.serving.status import invalid_argument

# rapidjson's messages for the parse errors Python's json reports (TF Serving parses with
# rapidjson and reports "JSON Parse error: <message> at offset: <byte>").
_PARSE_ERRORS = (
    ("Expecting value", "Invalid value."),
    ("Expecting property name enclosed in double quotes", "Missing a name for object member."),
    ("Expecting ':' delimiter", "Missing a colon after a name of object member."),
    ("Extra data", "The document root must not be followed by other values."),
    ("Unterminated string", "Missing a closing quotation mark in string."),
    ("Invalid \\escape", "Invalid escape character in string."),
    ("Invalid \\uXXXX escape", "Incorrect hex digit after \\u escape in string."),
    ("Invalid control character", "Invalid encoding in string."),
)
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_TYPES = {type(None): "Null", dict: "Object", list: "Array", str: "String"}
_INT_RANGES = {
    np.dtype(np.int8): (-(2**31), 2**31 - 1),  # TF Serving reads every small int as int32
    np.dtype(np.int16): (-(2**31), 2**31 - 1),
    np.dtype(np.uint8): (-(2**31), 2**31 - 1),
    np.dtype(np.int32): (-(2**31), 2**31 - 1),
    np.dtype(np.int64): (-(2**63), 2**63 - 1),
    np.dtype(np.uint32): (0, 2**32 - 1),
    np.dtype(np.uint64): (0, 2**64 - 1),
}


# --- Requests ---


def load_json(body, max_depth):
    """The parsed request body. Nesting deeper than `max_depth` is refused before parsing, so
    no body can exhaust the parser's recursion."""
    if not body:
        raise invalid_argument("JSON Parse error: The document is empty")
    depth = _nesting_depth(body)
    if depth > max_depth:
        raise invalid_argument(
            f"JSON Parse error: the document nests {depth} levels deep; this server takes at "
            f"most {max_depth} (--max-json-depth)."
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise invalid_argument(
            f"JSON Parse error: Invalid encoding in string. at offset: {error.start}"
        ) from None
    if "Inf" in text or "-NaN" in text:
        text = _NON_FINITE.sub(_python_non_finite, text)
    try:
        document = json.loads(text, object_pairs_hook=_first_key_wins)
    except json.JSONDecodeError as error:
        offset = len(text[: error.pos].encode("utf-8"))
        reason = _rapidjson_message(error.msg, text, error.pos)
        raise invalid_argument(f"JSON Parse error: {reason} at offset: {offset}") from None
    except RecursionError:  # cannot happen below the depth limit; never a 500 if it does
        raise invalid_argument("JSON Parse error: the document nests too deeply.") from None
    if not isinstance(document, dict):
        raise _format_error(document, "Is not object")
    return document


# rapidjson's kParseNanAndInfFlag also reads Inf, -Inf and -NaN, which Python's json does not.
_NON_FINITE = re.compile(r'("(?:[^"\\]|\\.)*")|(-?)Inf(?:inity)?|-NaN')


def _python_non_finite(match):
    if match.group(1) is not None:
        return match.group(1)  # inside a string: left alone
    token = match.group()
    return "NaN" if token == "-NaN" else f"{match.group(2)}Infinity"


def _first_key_wins(pairs):
    """Objects as rapidjson's FindMember reads them: the first of duplicate keys counts."""
    result = {}
    for key, value in pairs:
        result.setdefault(key, value)
    return result


def _nesting_depth(body):
    """The deepest nesting of [ and { in `body`, not counting brackets inside strings."""
    if b'"' in body:
        body = _STRING.sub(b'""', body)
    codes = np.frombuffer(body, np.uint8)
    steps = np.zeros(len(codes), np.int32)
    steps[(codes == ord("[")) | (codes == ord("{"))] = 1
    steps[(codes == ord("]")) | (codes == ord("}"))] = -1
    return int(np.cumsum(steps).max(initial=0))


def _rapidjson_message(message, text, position):
    if message.startswith("Expecting ',' delimiter"):
        inside = _innermost_container(text[:position])
        if inside == "{":
            return "Missing a comma or '}' after an object member."
        return "Missing a comma or ']' after an array element."
    for python, rapidjson in _PARSE_ERRORS:
        if message.startswith(python):
            return rapidjson
    return "Invalid value."


def _innermost_container(prefix):
    stack = []
    for match in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', prefix):
        token = match.group()
        if token in "[{":
            stack.append(token)
        elif token in "]}" and stack:
            stack.pop()
    return stack[-1] if stack else None


def signature_name(document):
    """The request's signature_name ("serving_default" when it names none)."""
    if "signature_name" not in document:
        return "serving_default"
    name = document["signature_name"]
    if not isinstance(name, str):
        raise invalid_argument(
            f"JSON Value: {_json_text(document)} not formatted correctly. 'signature_name' "
            "key must be a string value."
        )
    return name or "serving_default"


def check_examples(document):
    """A :classify or :regress body as TF Serving checks it before running anything: an
    `examples` list of objects."""
    examples = document.get("examples")
    if "examples" not in document:
        # TF Serving says "classify" here for :regress too.
        raise _format_error(
            document, "When method is classify, key 'examples' is expected and was not found"
        )
    if not isinstance(examples, list):
        raise _format_error(document, "Expecting 'examples' value to be an list/array")
    if not examples:
        raise _format_error(document, "'examples' value is an empty array")
    for example in examples:
        if not isinstance(example, dict):
            raise invalid_argument(
                f"Example must be JSON object but got JSON {_json_type(example)}"
            )


def check_method(verb, signature):
    """`:classify` and `:regress` need signatures of those methods, as in TF Serving."""
    wanted = f"tensorflow/serving/{verb}"
    if signature.method_name != wanted:
        kind = "classification" if verb == "classify" else "regression"
        raise invalid_argument(
            f"Expected {kind} signature method_name to be {wanted}. Was: {signature.method_name}"
        )
    raise ServingError(
        "UNIMPLEMENTED",
        f"kgen serve answers :predict only; signature '{signature.name}' is a {verb} "
        "signature: serve it with TF Serving.",
    )


def predict_inputs(document, signature):
    """(inputs: name -> numpy array of the signature's dtype, row_format) from a predict body."""
    if not signature.inputs:
        raise invalid_argument(f"Failed to get input map for signature: {signature.name}")
    has_instances, has_inputs = "instances" in document, "inputs" in document
    if has_instances and has_inputs:
        raise _format_error(
            document,
            "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist ",
        )
    if has_instances:
        instances = document["instances"]
        if not isinstance(instances, list):
            raise _format_error(document, "Excepting 'instances' to be an list/array")
        if not instances:
            raise _format_error(document, "No values in 'instances' array")
        return _from_instances(instances, signature.inputs), True
    if has_inputs:
        return _from_inputs(document["inputs"], signature.inputs), False
    raise invalid_argument("Missing 'inputs' or 'instances' key")


def _is_element_object(value):
    return isinstance(value, dict) and not _is_base64(value)


def _is_base64(value):
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _from_instances(instances, specs):
    if not isinstance(instances[0], dict) and len(specs) > 1:
        raise invalid_argument(
            "instances is a plain list, but expecting list of objects as multiple input "
            "tensors required as per tensorinfo_map"
        )
    objects = _is_element_object(instances[0])
    columns = {name: [] for name in specs}
    names = sorted(specs)
    for index, item in enumerate(instances):
        if objects:
            if not _is_element_object(item):
                raise invalid_argument(
                    f"Expecting object but got list at item {index} of input list"
                )
            for key, value in item.items():
                if key not in specs:
                    raise _element_error(
                        index, f"JSON object: does not have named input: {key}", key
                    )
                columns[key].append(value)
            if set(item) != set(specs):
                raise invalid_argument(
                    f"Failed to process element: {index} of 'instances' list. JSON object: "
                    f"{_json_text(item)} keys must be equal to: {','.join(names)}"
                )
        else:
            if _is_element_object(item):
                raise invalid_argument(
                    f"Expecting value/list but got object at item {index} of input list"
                )
            columns[names[0] if len(specs) == 1 else next(iter(specs))].append(item)
    return {
        name: _stack_rows(name, rows, specs[name][0], objects) for name, rows in columns.items()
    }


def _element_error(index, message, key=None):
    where = f"{index} key: {key}" if key is not None else f"{index}"
    return invalid_argument(
        f"Failed to process element: {where} of 'instances' list. Error: "
        f"INVALID_ARGUMENT: {message}"
    )


def _stack_rows(name, rows, dtype, keyed):
    """One array [len(rows), ...] from per-row values that must share one shape."""
    first_shape = None
    arrays = []
    for index, row in enumerate(rows):
        try:
            array = to_array(row, dtype)
        except ServingError as error:
            raise _element_error(index, error.message, name if keyed else None) from None
        if first_shape is None:
            first_shape = array.shape
        elif array.shape != first_shape:
            if array.size != int(np.prod(first_shape)):
                message = (
                    f"Expecting tensor size: {int(np.prod(first_shape))} but got: {array.size}"
                )
            else:
                message = f"Expecting shape {_shape(first_shape)} but got: {_shape(array.shape)}"
            raise _element_error(index, message, name if keyed else None)
        arrays.append(array)
    return np.stack(arrays) if arrays else np.zeros((0,), dtype)


def _from_inputs(value, specs):
    if not isinstance(value, dict) or _is_base64(value):
        if len(specs) > 1:
            raise invalid_argument(
                "inputs is a plain value/list, but expecting an object as multiple input "
                "tensors required as per tensorinfo_map"
            )
        name = next(iter(specs))
        return {name: to_array(value, specs[name][0])}
    arrays = {}
    for name in sorted(specs):
        if name not in value:
            raise invalid_argument(f"Missing named input: {name} in 'inputs' object.")
        arrays[name] = to_array(value[name], specs[name][0])
    return arrays


def to_array(value, dtype):
    """A JSON value (a scalar or nested lists) as an array of `dtype`, with TF Serving's
    shape rules (the first element at each level fixes the size) and type rules."""
    dtype = np.dtype(dtype)
    shape = _dense_shape(value)
    if dtype.kind in "fiub" and not _holds_objects(value, len(shape)):
        array = _fast_numeric(value, dtype, shape)
        if array is not None:
            return array
    flat = []
    _flatten(value, 0, shape, flat)
    converted = [_convert(item, dtype) for item in flat]
    if dtype.kind in "SUO":
        return np.array(converted, dtype=object).reshape(shape)
    return np.array(converted, dtype=dtype).reshape(shape)


def _dense_shape(value):
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return tuple(shape)


def _holds_objects(value, rank):
    """Whether the first leaf is a dict (b64 strings): the fast path cannot take those."""
    for _ in range(rank):
        if not value:
            return False
        value = value[0]
    return isinstance(value, dict)


def _fast_numeric(value, dtype, shape):
    """Numeric arrays through numpy when every leaf already has the right JSON type and
    the nesting is regular; None to take the element-by-element path (which finds and
    names the first bad value)."""
    try:
        array = np.array(value)
    except (ValueError, OverflowError):
        return None
    if array.shape != shape:
        return None
    kind = array.dtype.kind
    if dtype.kind == "b":
        return array if kind == "b" else None
    if dtype.kind in "iu":
        if kind not in "iu" or array.size == 0 and kind != "i":
            return None
        low, high = _INT_RANGES.get(dtype, (np.iinfo(dtype).min, np.iinfo(dtype).max))
        if array.size and (array.min() < low or array.max() > high):
            return None
        if dtype.kind == "u" and array.size and array.min() < 0:
            return None
        return array.astype(dtype)
    # Floats: numbers of either JSON kind, within the lossless range.
    if kind not in "iuf":
        return None
    if kind in "iu" and array.size:
        limit = 2 ** np.finfo(dtype).nmant + 1  # 2^24 for float32, as TF Serving's check
        if np.abs(array).max() >= limit:
            return None
    if kind == "f" and array.size:
        finite = np.abs(array[np.isfinite(array)])
        # Out of range, or so large that a JSON integer among them might not be exact: the
        # element path tells integer tokens from decimals.
        if finite.size and (finite.max() > np.finfo(dtype).max or finite.max() >= 2**24):
            return None
    return array.astype(dtype)


def _flatten(value, level, shape, out):
    rank = len(shape)
    if not isinstance(value, list):
        if level != rank:
            raise invalid_argument(
                f"JSON Value: {_json_text(value)} found at incorrect level: {level + 1} in the "
                f"JSON DOM. Expected at level: {rank}"
            )
        out.append(value)
        return
    if level >= rank:
        raise invalid_argument(f"Encountered list at unexpected level: {level} expected < {rank}")
    if len(value) != shape[level]:
        raise invalid_argument(
            f"Encountered list at unexpected size: {len(value)} at level: {level} "
            f"expected size: {shape[level]}"
        )
    for item in value:
        _flatten(item, level + 1, shape, out)


def _convert(value, dtype):
    """One leaf as TF Serving's AddValueToTensor converts it, or its error."""
    kind = dtype.kind
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "f":
        if not is_number:
            raise _type_error(value, dtype)
        if not _lossless(value, dtype):
            target = "float" if dtype == np.float32 else "double"
            raise invalid_argument(
                f"Cannot convert JSON value: {_json_text(value)} to {target} without loss "
                "of precision."
            )
        return value
    if kind in "iu":
        low, high = _INT_RANGES.get(dtype, (np.iinfo(dtype).min, np.iinfo(dtype).max))
        if not (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high):
            raise _type_error(value, dtype)
        return value
    if kind == "b":
        if not isinstance(value, bool):
            raise _type_error(value, dtype)
        return value
    if kind in "SUO":
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, dict):
            return _decode_base64(value)
        raise _type_error(value, dtype)
    raise ServingError(
        "UNIMPLEMENTED",
        f"Conversion of JSON Value: {_json_text(value)} to type: {type_name(dtype)}",
    )


def _lossless(value, dtype):
    if isinstance(value, float):
        return not math.isfinite(value) or abs(value) <= np.finfo(dtype).max
    return abs(value) <= 2 ** (np.finfo(dtype).nmant + 1) - 1


def _decode_base64(value):
    if not _is_base64(value):
        raise invalid_argument(
            f"JSON Value: {_json_text(value)} not formatted correctly for base64 data"
        )
    try:
        return base64.b64decode(value["b64"], validate=True)
    except (binascii.Error, ValueError):
        raise invalid_argument("Unable to base64 decode") from None


def _type_error(value, dtype):
    return invalid_argument(
        f"JSON Value: {_json_text(value)} Type: {_json_type(value)} is not of expected type: "
        f"{type_name(dtype)}"
    )


def type_name(dtype):
    """TensorFlow's DataTypeString for a dtype: "float", "double", "int32", ..."""
    name = tf.as_dtype(dtype).name
    return {"float32": "float", "float64": "double", "float16": "half"}.get(name, name)


def _json_type(value):
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (int, float)):
        return "Number"
    return _JSON_TYPES.get(type(value), "Object")


def _format_error(value, message):
    return invalid_argument(f"JSON Value: {_json_text(value)} {message}")


def _json_text(value):
    """A JSON value as TF Serving shows it in errors (rapidjson's pretty writer)."""
    if isinstance(value, float):
        return _float_token(value, np.float64)
    return json.dumps(value, indent=4, ensure_ascii=False)


def _shape(shape):
    return "[" + ",".join(str(size) for size in shape) + "]"


# --- Responses ---


def predict_response(outputs, row_format, signature):
    """The response body: {"predictions": ...} for row format, {"outputs": ...} for
    columnar; a bare value for one output, an object otherwise (keys sorted), laid out as
    TF Serving's rapidjson writer lays it out."""
    names = sorted(outputs)
    arrays = {name: np.asarray(outputs[name]) for name in names}
    if row_format:
        return _row_response(arrays, names)
    if len(names) == 1:
        body = _pretty_text(names[0], arrays[names[0]], 4)
    else:
        members = [f'        "{name}": {_pretty_text(name, arrays[name], 8)}' for name in names]
        body = "{\n" + ",\n".join(members) + "\n    }"
    return '{\n    "outputs": ' + body + "\n}"


def _row_response(arrays, names):
    batch = None
    for name in names:
        if arrays[name].ndim == 0:
            raise invalid_argument(f"Tensor name: {name} has no shape information ")
        size = arrays[name].shape[0]
        if batch is not None and size != batch:
            raise invalid_argument(
                f"Tensor name: {name} has inconsistent batch size: {size} expecting: {batch}"
            )
        batch = size
    if batch < 1:
        raise invalid_argument(f"Tensor name: {names[0]} has invalid batch size: {batch}")
    if len(names) == 1:
        # Rows in rapidjson's single-line mode, right after the bracket; the bracket closes
        # in pretty mode on its own line (TF Serving's MakeRowFormatJsonFromTensors).
        rows = _single_line_text(names[0], arrays[names[0]])[1:-1]
        return '{\n    "predictions": [' + rows + "\n    ]\n}"
    items = []
    for row in range(batch):
        members = [
            f'            "{name}": {_single_line_text(name, _row(arrays[name], row))}'
            for name in names
        ]
        items.append("        {\n" + ",\n".join(members) + "\n        }")
    return '{\n    "predictions": [\n' + ",\n".join(items) + "\n    ]\n}"


def _row(array, index):
    """Row `index` of `array` as an array (a 0-d one for a vector's element, whatever the
    dtype: indexing gives bare Python bytes for strings)."""
    return np.asarray(array[index : index + 1][0], dtype=array.dtype)


def _single_line_text(name, array):
    """`array` in rapidjson's single-line format: [a, b], nested."""
    numbers = _json_numbers(array)
    if numbers is not None:
        return json.dumps(numbers.tolist())
    return _single_line(_tokens(name, array))


def _pretty_text(name, array, indent):
    """`array` in rapidjson's pretty format, its first line at `indent`."""
    numbers = _json_numbers(array)
    if numbers is None:
        return _pretty(_tokens(name, array), indent)
    if numbers.ndim == 0:
        return json.dumps(numbers.item())
    tokens = np.empty(numbers.size, dtype=object)
    if numbers.size:
        tokens[:] = json.dumps(numbers.ravel().tolist())[1:-1].split(", ")
    return _pretty(tokens.reshape(numbers.shape), indent)


def _json_numbers(array):
    """`array` as values whose Python JSON text is TF Serving's, for json.dumps (which runs
    in C), or None when only the element-by-element writer gets the text right.

    Ints and bools print alike. A float32 v prints as TF Serving's WriteDecimal prints it:
    its 6-significant-digit decimal where that reads back as v, else its 9-digit one. Both
    are made here as the double nearest that decimal (an exact integer divided by an exact
    power of ten: one correctly rounded division), whose shortest repr is that decimal.
    Python's repr and printf's %g place the exponent differently from 1e6 on and the powers
    of ten stop being exact below 1e-14, so arrays with such values take the slow path.
    """
    kind = array.dtype.kind
    if kind in "biu":
        return array
    if array.dtype != np.float32:
        return None
    wide = array.astype(np.float64)
    finite = np.isfinite(wide)
    magnitude = np.abs(np.where(finite, wide, 1.0))
    nonzero = magnitude > 0
    if np.any(nonzero & ((magnitude < 1e-14) | (magnitude >= 1e6))):
        return None
    exponent = np.floor(np.log10(np.where(nonzero, magnitude, 1.0)))
    six = _decimal(wide, exponent, 6)
    nine = _decimal(wide, exponent, 9)
    with np.errstate(over="ignore", invalid="ignore"):
        values = np.where(six.astype(np.float32) == array, six, nine)
    values = np.where(finite & nonzero, values, wide)  # zeros keep their sign; NaN, inf stay
    with np.errstate(over="ignore", invalid="ignore"):
        if not np.array_equal(values.astype(np.float32), array, equal_nan=True):
            return None
    return values


def _decimal(values, exponent, digits):
    """The doubles nearest `values` rounded to `digits` significant decimal digits."""
    with np.errstate(over="ignore", invalid="ignore"):
        scale = 10.0 ** (digits - 1 - exponent)
        mantissa = np.round(values * scale)
        # log10 can land one off at powers of ten: re-scale where the mantissa has one digit
        # too many or too few.
        high = np.abs(mantissa) >= 10.0**digits
        low = (np.abs(mantissa) < 10.0 ** (digits - 1)) & (mantissa != 0)
        exponent = exponent + high - low
        scale = 10.0 ** (digits - 1 - exponent)
        mantissa = np.round(values * scale)
        return mantissa / scale


def _tokens(name, array):
    """Each value of `array` as the JSON text TF Serving writes for it (same shape)."""
    array = np.asarray(array)
    kind = array.dtype.kind
    if kind == "f":
        flat = _float_tokens(array.ravel())
    elif kind == "b":
        flat = ["true" if value else "false" for value in array.ravel().tolist()]
    elif kind in "iu":
        flat = [str(value) for value in array.ravel().tolist()]
    else:
        as_bytes = name.endswith("_bytes")
        flat = [_string_token(value, as_bytes) for value in array.ravel().tolist()]
    tokens = np.empty(len(flat), dtype=object)
    tokens[:] = flat
    return tokens.reshape(array.shape)


def _float_tokens(values):
    """TF Serving's WriteDecimal over an array: 6 significant digits where they read back
    as the same value, else max_digits10 (9 for float32, 17 for float64); ".0" on whole
    numbers; NaN, Infinity, -Infinity."""
    dtype = values.dtype if values.dtype in (np.float32, np.float64) else np.dtype(np.float32)
    values = values.astype(dtype)
    wide = values.astype(np.float64).tolist()
    tokens = [f"{value:.6g}" for value in wide]
    finite = np.isfinite(values)
    with np.errstate(invalid="ignore", over="ignore"):
        parsed = np.array(tokens, dtype=np.float64).astype(dtype)
    digits = 9 if dtype == np.float32 else 17
    for index in np.flatnonzero(finite & (parsed != values)).tolist():
        tokens[index] = f"{wide[index]:.{digits}g}"
    for index in np.flatnonzero(~finite).tolist():
        tokens[index] = _float_token(wide[index], dtype)
    return [
        token if ("." in token or "e" in token or "N" in token or "I" in token) else token + ".0"
        for token in tokens
    ]


def _float_token(value, dtype):
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    return _float_tokens(np.array([value], dtype))[0]


def _string_token(value, as_bytes):
    if as_bytes:
        return '{"b64": ' + json.dumps(base64.b64encode(value).decode("ascii")) + "}"
    text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
    return json.dumps(text, ensure_ascii=False)


def _single_line(tokens):
    """Values in rapidjson's single-line array format: [a, b], nested."""
    if tokens.ndim == 0:
        return tokens.item()
    if tokens.ndim == 1:
        return "[" + ", ".join(tokens.tolist()) + "]"
    return "[" + ", ".join(_single_line(part) for part in tokens) + "]"


def _pretty(tokens, indent):
    """Values in rapidjson's pretty format: one element per line, indented by 4 a level."""
    if tokens.ndim == 0:
        return tokens.item()
    if tokens.shape[0] == 0:
        return "[]"
    pad = " " * (indent + 4)
    if tokens.ndim == 1:
        inner = [pad + token for token in tokens.tolist()]
    else:
        inner = [pad + _pretty(part, indent + 4) for part in tokens]
    return "[\n" + ",\n".join(inner) + "\n" + " " * indent + "]"


# --- Model status and metadata ---


def status_response(states):
    """GET /v1/models/NAME: model_version_status, newest version first, each version as a
    string (protobuf's JSON printer with whitespace, as TF Serving prints it)."""
    entries = [
        {
            "version": str(version),
            "state": state.state,
            "status": {"error_code": state.error_code, "error_message": state.error_message},
        }
        for version, state in states
    ]
    return json.dumps({"model_version_status": entries}, indent=1) + "\n"


def metadata_response(servable):
    """GET /v1/models/NAME/metadata: the model spec and the SignatureDefMap, printed apart and
    joined as TF Serving joins them."""
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    for name, signature_def in servable.signature_defs.items():
        signature_map.signature_def[name].CopyFrom(signature_def)
    model_spec = {"name": servable.name, "signature_name": "", "version": str(servable.version)}
    signature_defs = json_format.MessageToDict(
        signature_map,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
    )
    return (
        '{\n"model_spec":'
        + json.dumps(model_spec, indent=1)
        + '\n,\n"metadata": {"signature_def": '
        + json.dumps(signature_defs, indent=1)
        + "\n}\n}\n"
    )
