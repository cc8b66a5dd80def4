"""TF Serving's Classify and Regress APIs: ``tf.Example`` inputs in, labelled scores out.

``POST /v1/models/<name>:classify`` (and ``:regress``) take
``{"signature_name": ..., "context": {features}, "examples": [{features}, ...]}``: each
``examples`` object becomes a ``tf.Example`` (numbers with a decimal point are floats, other
numbers int64, strings and ``{"b64": ...}`` bytes, ``true``/``false`` int64 1/0, a list
holds several values of one kind), serialized, with the ``context`` example's bytes in front
(so its features join every example's), and fed to the signature's ``inputs`` tensor.
A classification signature answers ``classes`` and/or ``scores`` (``[batch, classes]``), a
regression signature one ``outputs`` (``[batch]`` or ``[batch, 1]``). Rules and messages follow
``util/json_tensor.cc``, ``servables/tensorflow/classifier.cc``, ``regressor.cc`` and
``util.cc`` (``InputToSerializedExampleTensor``).

The same functions serve the gRPC side, whose requests already hold ``Example`` protos.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from course.serving.errors import ServingError
from course_tools.serving.protocol import _is_b64, _json_type, _short, b64decode

__all__ = [
    "CLASSIFY",
    "classify_json",
    "regress_json",
    "serialized_input",
    "REGRESS",
    "classify_outputs",
    "check_classification_signature",
    "check_regression_signature",
    "examples_from_json",
    "regress_outputs",
]

CLASSIFY = "tensorflow/serving/classify"
REGRESS = "tensorflow/serving/regress"


# ---------------------------------------------------------------------------- JSON -> Examples
def _feature_error(name: str, kind: str) -> ServingError:
    return ServingError(f"Unexpected element type in feature: {name} expecting type: {kind}")


def _add_value(value: Any, name: str, feature: Any) -> None:
    kind = feature.WhichOneof("kind")

    def need(wanted: str) -> None:
        if kind not in (None, wanted):
            raise _feature_error(name, {"bytes_list": "bytes", "float_list": "float"}.get(
                kind, "int64"))  # fmt: skip

    if value is None or isinstance(value, list) or (isinstance(value, dict) and not _is_b64(value)):
        raise ServingError(
            f"Feature: {name} has element with unexpected JSON type: {_json_type(value)}"
        )
    if isinstance(value, bool):
        need("int64_list")
        feature.int64_list.value.append(int(value))
    elif isinstance(value, dict):
        need("bytes_list")
        feature.bytes_list.value.append(b64decode(value["b64"]))
    elif isinstance(value, str):
        need("bytes_list")
        feature.bytes_list.value.append(value.encode("utf-8", "surrogateescape"))
    elif isinstance(value, float):
        need("float_list")
        feature.float_list.value.append(value)
    else:
        need("int64_list")
        if value >= 2**63:
            raise ServingError(f"Feature: {name} has uint64_t element. Only int64_t is supported.")
        if value < -(2**63):  # rapidjson reads it as a double
            feature.float_list.value.append(float(value))
        else:
            feature.int64_list.value.append(value)


def _example(value: Any) -> Any:
    from tensorflow.core.example import example_pb2, feature_pb2

    if not isinstance(value, dict):
        raise ServingError(f"Example must be JSON object but got JSON {_json_type(value)}")
    example = example_pb2.Example()
    for name, content in value.items():
        feature = feature_pb2.Feature()
        for item in content if isinstance(content, list) else [content]:
            _add_value(item, name, feature)
        example.features.feature[name].CopyFrom(feature)
    return example


def examples_from_json(doc: dict, method: str) -> list[bytes]:
    """The serialized examples a classify/regress body holds (context bytes in front)."""
    context = _example(doc["context"]) if "context" in doc else None
    if "examples" not in doc:
        raise ServingError(
            f"JSON Value: {_short(doc)} When method is {method}, key 'examples' is expected and "
            "was not found"
        )
    items = doc["examples"]
    if not isinstance(items, list):
        raise ServingError(
            f"JSON Value: {_short(doc)} Expecting 'examples' value to be an list/array"
        )
    if not items:
        raise ServingError(f"JSON Value: {_short(doc)} 'examples' value is an empty array")
    examples = [_example(item) for item in items]
    prefix = context.SerializeToString() if context is not None else b""
    return [prefix + e.SerializeToString() for e in examples]


def serialized_input(input_proto: Any) -> list[bytes]:
    """A gRPC ``Input`` (example_list or example_list_with_context) as serialized examples."""
    kind = input_proto.WhichOneof("kind")
    if kind == "example_list":
        serialized = [e.SerializeToString() for e in input_proto.example_list.examples]
    elif kind == "example_list_with_context":
        listed = input_proto.example_list_with_context
        prefix = listed.context.SerializeToString()
        serialized = [prefix + e.SerializeToString() for e in listed.examples]
    else:
        serialized = []
    if not serialized:
        raise ServingError("Input is empty.")
    return serialized


# ---------------------------------------------------------------------------- signatures
def _signature_text(sig_def: Any) -> str:
    return str(sig_def).strip()


def check_classification_signature(sig_def: Any, *, check_method: bool = False) -> None:
    """classifier.cc's PreProcessClassification, with its messages."""
    if check_method and sig_def.method_name != CLASSIFY:
        raise ServingError(
            f"Expected classification signature method_name to be {CLASSIFY}. Was: "
            f"{sig_def.method_name}"
        )
    if len(sig_def.inputs) != 1:
        raise ServingError("Expected one input Tensor.")
    if len(sig_def.outputs) not in (1, 2):
        raise ServingError(f"Expected one or two output Tensors, found {len(sig_def.outputs)}")
    if "inputs" not in sig_def.inputs:
        raise ServingError(
            f"No classification inputs found in SignatureDef: {_signature_text(sig_def)}"
        )
    if "classes" not in sig_def.outputs and "scores" not in sig_def.outputs:
        raise ServingError(
            'Expected classification signature outputs to contain at least one of "classes" or '
            f'"scores". Signature was: {_signature_text(sig_def)}'
        )


def check_regression_signature(sig_def: Any, *, check_method: bool = False) -> None:
    """regressor.cc's PreProcessRegression, with its messages."""
    if check_method and sig_def.method_name != REGRESS:
        raise ServingError(
            f"Expected regression signature method_name to be {REGRESS}. Was: {sig_def.method_name}"
        )
    if len(sig_def.inputs) != 1:
        raise ServingError("Expected one input Tensor.")
    if len(sig_def.outputs) != 1:
        raise ServingError("Expected one output Tensor.")
    if "inputs" not in sig_def.inputs:
        raise ServingError(
            f"No regression inputs found in SignatureDef: {_signature_text(sig_def)}"
        )
    if "outputs" not in sig_def.outputs:
        raise ServingError(
            f"No regression outputs found in SignatureDef: {_signature_text(sig_def)}"
        )


def _shape(array: np.ndarray) -> str:
    return "[" + ",".join(str(d) for d in array.shape) + "]"


def _tf_dtype(array: np.ndarray) -> str:
    names = {"float32": "DT_FLOAT", "float64": "DT_DOUBLE", "int32": "DT_INT32",
             "int64": "DT_INT64", "object": "DT_STRING", "bool": "DT_BOOL"}  # fmt: skip
    return names.get(array.dtype.name, f"DT_{array.dtype.name.upper()}")


def classify_outputs(outputs: dict[str, np.ndarray], n: int) -> list[list[tuple[str, float]]]:
    """classifier.cc's PostProcessClassificationResult: per example, (label, score) pairs."""
    classes, scores = outputs.get("classes"), outputs.get("scores")
    for array, dtype, name in ((classes, "DT_STRING", "classes"), (scores, "DT_FLOAT", "scores")):
        if array is None:
            continue
        if array.ndim != 2:
            raise ServingError(
                f"Expected Tensor shape: [batch_size num_classes] but got {_shape(array)}"
            )
        if _tf_dtype(array) != dtype:
            raise ServingError(f"Expected {name} Tensor of {dtype}. Got: {_tf_dtype(array)}")
        if array.shape[0] != n:
            raise ServingError(f"Expected {name} output batch size of {n}. Got: {array.shape[0]}")
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise ServingError(
            "Tensors class and score should match in dim_size(1). Got "
            f"{classes.shape[1]} vs. {scores.shape[1]}"
        )
    width = (classes if classes is not None else scores).shape[1]
    results = []
    for i in range(n):
        row = []
        for c in range(width):
            label = classes[i, c] if classes is not None else b""
            label = (
                label.decode("utf-8", "surrogateescape") if isinstance(label, bytes) else str(label)
            )
            score = float(scores[i, c]) if scores is not None else 0.0
            row.append((label, score))
        results.append(row)
    return results


def regress_outputs(outputs: dict[str, np.ndarray], n: int) -> list[float]:
    """regressor.cc's PostProcessRegressionResult: one float per example."""
    array = outputs.get("outputs")
    if array is None:
        raise ServingError("Could not find output tensor 'outputs'")
    if not (array.ndim == 1 or (array.ndim == 2 and array.shape[1] == 1)):
        raise ServingError(
            "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got "
            f"{_shape(array)}"
        )
    if array.shape[0] != n:
        raise ServingError(
            f"Input batch size did not match output batch size: {n} vs. {array.shape[0]}"
        )
    if _tf_dtype(array) != "DT_FLOAT":
        raise ServingError(f"Expected output Tensor of DT_FLOAT.  Got: {_tf_dtype(array)}")
    return [float(v) for v in array.reshape(-1)]


def _float32(value: float) -> float:
    return float(str(np.float32(value)))  # the shortest text that reads back the same


def classify_json(results: list[list[tuple[str, float]]]) -> dict:
    """``{"results": [[[label, score], ...], ...]}`` (json_tensor.cc)."""
    return {"results": [[[label, _float32(score)] for label, score in row] for row in results]}


def regress_json(values: list[float]) -> dict:
    """``{"results": [value, ...]}`` (json_tensor.cc)."""
    return {"results": [_float32(v) for v in values]}
