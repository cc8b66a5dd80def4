"""A client for TensorFlow Serving's REST and gRPC APIs (the course's server speaks both).

Introduced in lesson 09, which first builds the same requests by hand with ``requests`` and
with TF Serving's own gRPC stubs. It sends nothing TF Serving would not accept, so it works
against production unchanged.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from course.serving.errors import HTTP_CODES, ServingError

__all__ = ["Client", "ServingError", "encode_image"]


def encode_image(image: Any, format: str = "PNG") -> bytes:
    """An image (a path, raw bytes, or a uint8/0-1 float array (h, w[, c])) as encoded bytes.

    Introduced in lesson 09: the ``serving_bytes`` signature takes what a phone or a web page
    would upload, not float arrays.
    """
    if isinstance(image, bytes | bytearray):
        return bytes(image)
    if isinstance(image, str | os.PathLike):
        return Path(image).read_bytes()
    from io import BytesIO

    from PIL import Image

    array = np.asarray(image)
    if array.dtype != np.uint8:
        if array.size and (np.nanmin(array) < 0 or np.nanmax(array) > 1):
            raise ValueError("float images must be scaled to 0-1 (or pass uint8 0-255)")
        array = np.rint(array * 255).astype(np.uint8)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3):
        raise ValueError(f"expected one image shaped (h, w) or (h, w, c); got {array.shape}")
    buffer = BytesIO()
    Image.fromarray(array).save(buffer, format=format)
    return buffer.getvalue()


class Client:
    """Talk to one model on a TF Serving endpoint, over REST (default) or gRPC.

    Introduced in lesson 09. ``version`` or ``label`` pin a version (default: the latest).
    Requests time out after ``timeout`` seconds; a 503 (server busy or loading) or a refused
    connection is retried up to ``retries`` times with a growing pause; any other error raises
    :class:`ServingError` carrying the server's own message and HTTP status.
    ``protocol="grpc"`` sends the same calls to TF Serving's gRPC port (``url`` is then
    ``host:port``, e.g. ``server.grpc_target``), with the same answers.

    Example::

        client = Client("http://localhost:8501", "digits")
        client.wait_until_available()
        probs = client.predict(X_test[:8] / 255.0)          # (8, num_classes)
        out = client.predict_images(["cat.jpg"], signature_name="serving_bytes")
        fast = Client("localhost:8500", "digits", protocol="grpc")
    """

    def __init__(
        self,
        url: str = "http://localhost:8501",
        model: str = "default",
        *,
        version: int | None = None,
        label: str | None = None,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.2,
        protocol: str = "rest",
    ):
        import requests

        if version is not None and label is not None:
            raise ValueError("give a version or a label, not both")
        if protocol not in ("rest", "grpc"):
            raise ValueError(f"protocol must be 'rest' or 'grpc'; got {protocol!r}")
        self.url = url.rstrip("/")
        self.model = model
        self.version, self.label = version, label
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.protocol = protocol
        self.session = requests.Session()
        self._grpc = _Grpc(self) if protocol == "grpc" else None

    def model_url(self) -> str:
        path = f"{self.url}/v1/models/{self.model}"
        if self.version is not None:
            path += f"/versions/{self.version}"
        elif self.label is not None:
            path += f"/labels/{self.label}"
        return path

    def _send(self, method: str, url: str, body: dict | None = None) -> dict:
        import requests

        for attempt in range(self.retries + 1):
            try:
                response = self.session.request(method, url, json=body, timeout=self.timeout)
            except requests.ConnectionError as exc:
                if attempt == self.retries:
                    raise ServingError(
                        f"cannot connect to {self.url}: is the server running? ({exc})",
                        "UNAVAILABLE",
                    ) from None
            except requests.Timeout:
                raise ServingError(
                    f"no answer from {url} within {self.timeout} s (raise timeout=... for big "
                    "batches or a cold server)",
                    "DEADLINE_EXCEEDED",
                ) from None
            else:
                if response.status_code != 503 or attempt == self.retries:
                    return self._decode(response)
            time.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")

    @staticmethod
    def _decode(response: Any) -> dict:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code >= 400:
            message = (payload or {}).get("error") if isinstance(payload, dict) else None
            raise ServingError(
                message or response.text.strip() or response.reason,
                http_status=response.status_code,
                code=_code_for(response.status_code),
            )
        if not isinstance(payload, dict):
            raise ServingError(
                f"the server answered with something that is not a JSON "
                f"object: {response.text[:200]!r}",
                "DATA_LOSS",
            )
        return payload

    # ---- the API -----------------------------------------------------------------------
    def status(self) -> list[dict]:
        """``model_version_status``: one dict per version, with ``version`` and ``state``."""
        if self._grpc is not None:
            return self._grpc.status()
        return self._send("GET", self.model_url())["model_version_status"]

    def metadata(self) -> dict:
        """The signatures: ``{name: {"inputs": {...}, "outputs": {...}}}``."""
        if self._grpc is not None:
            return self._grpc.metadata()
        doc = self._send("GET", self.model_url() + "/metadata")
        return doc["metadata"]["signature_def"]["signature_def"]

    def wait_until_available(self, timeout: float = 60.0) -> int:
        """Block until a version is AVAILABLE; return it. Raises after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                for entry in self.status():
                    if entry["state"] == "AVAILABLE":
                        return int(entry["version"])
            except ServingError as exc:
                last = exc
            time.sleep(0.1)
        raise ServingError(
            f"model {self.model!r} not available at {self.url} after "
            f"{timeout:.0f} s (last answer: {last})",
            "UNAVAILABLE",
        )

    def predict_raw(self, body: dict) -> dict:
        """POST ``body`` to ``:predict`` as it is; return the decoded JSON answer."""
        return self._send("POST", self.model_url() + ":predict", body)

    def predict(
        self, instances: Any = None, *, inputs: Any = None, signature_name: str | None = None
    ) -> Any:
        """Predict on ``instances`` (row format) or ``inputs`` (columnar); arrays back.

        Arrays are sent as nested lists. One output comes back as one array; several as a dict.
        """
        if (instances is None) == (inputs is None):
            raise ValueError("give exactly one of instances or inputs")
        if self._grpc is not None:
            return self._grpc.predict(instances, inputs, signature_name or "")
        body: dict[str, Any] = {}
        if signature_name:
            body["signature_name"] = signature_name
        if instances is not None:
            body["instances"] = _jsonable(instances)
            answer = self.predict_raw(body)["predictions"]
            if answer and isinstance(answer[0], dict):
                return {k: np.asarray([row[k] for row in answer]) for k in answer[0]}
            return np.asarray(answer)
        body["inputs"] = _jsonable(inputs)
        answer = self.predict_raw(body)["outputs"]
        if isinstance(answer, dict):
            return {k: np.asarray(v) for k, v in answer.items()}
        return np.asarray(answer)

    def predict_images(
        self,
        images: Iterable[Any] | Sequence[Any],
        *,
        signature_name: str = "serving_bytes",
        input_name: str = "image_bytes",
        format: str = "PNG",
    ) -> Any:
        """Send images (paths, encoded bytes or arrays) base64-encoded to a bytes signature."""
        rows = [
            {input_name: {"b64": base64.b64encode(encode_image(im, format)).decode("ascii")}}
            for im in images
        ]
        if not rows:
            raise ValueError("no images to send")
        return self.predict(rows, signature_name=signature_name)

    def classify(
        self, examples: list[dict], *, context: dict | None = None, signature_name: str = ""
    ) -> list[list[tuple[str, float]]]:
        """TF Serving's Classify API: per example (a dict of features), (label, score) pairs."""
        if self._grpc is not None:
            return self._grpc.examples("classify", examples, context, signature_name)
        body = _examples_body(examples, context, signature_name)
        answer = self._send("POST", self.model_url() + ":classify", body)["results"]
        return [[(label, score) for label, score in row] for row in answer]

    def regress(
        self, examples: list[dict], *, context: dict | None = None, signature_name: str = ""
    ) -> list[float]:
        """TF Serving's Regress API: one number per example (a dict of features)."""
        if self._grpc is not None:
            return self._grpc.examples("regress", examples, context, signature_name)
        body = _examples_body(examples, context, signature_name)
        return self._send("POST", self.model_url() + ":regress", body)["results"]

    def close(self) -> None:
        self.session.close()
        if self._grpc is not None:
            self._grpc.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _code_for(http_status: int) -> str:
    for code, status in HTTP_CODES.items():
        if status == http_status:
            return code
    return "UNKNOWN"


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _examples_body(examples: list[dict], context: dict | None, signature_name: str) -> dict:
    body: dict[str, Any] = {"examples": _jsonable(list(examples))}
    if context is not None:
        body["context"] = _jsonable(context)
    if signature_name:
        body["signature_name"] = signature_name
    return body


def _example_proto(features: dict) -> Any:
    """A dict of features as a ``tf.Example``, with the REST API's rules (floats, ints,
    strings and bytes; a list holds several values of one kind)."""
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    for name, value in features.items():
        feature = example.features.feature[name]
        for item in value if isinstance(value, list | tuple | np.ndarray) else [value]:
            item = item.item() if isinstance(item, np.generic) else item
            if isinstance(item, bytes):
                feature.bytes_list.value.append(item)
            elif isinstance(item, str):
                feature.bytes_list.value.append(item.encode("utf-8"))
            elif isinstance(item, float):
                feature.float_list.value.append(item)
            else:
                feature.int64_list.value.append(int(item))
    return example


class _Grpc:
    """The gRPC side of :class:`Client`: TF Serving's PredictionService and ModelService."""

    def __init__(self, client: Client):
        import grpc
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        self.client = client
        target = client.url.split("://", 1)[-1]
        self.channel = grpc.insecure_channel(
            target, options=[("grpc.max_receive_message_length", 2**31 - 1),
                             ("grpc.max_send_message_length", 2**31 - 1)]
        )  # fmt: skip
        self.predictions = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)
        self._inputs: dict[str, list[str]] = {}

    def close(self) -> None:
        self.channel.close()

    def _spec(self, spec: Any, signature_name: str = "") -> None:
        spec.name = self.client.model
        if self.client.version is not None:
            spec.version.value = self.client.version
        elif self.client.label is not None:
            spec.version_label = self.client.label
        if signature_name:
            spec.signature_name = signature_name

    def _call(self, method: Any, request: Any) -> Any:
        import grpc

        for attempt in range(self.client.retries + 1):
            try:
                return method(request, timeout=self.client.timeout)
            except grpc.RpcError as error:
                code = error.code().name
                if code != "UNAVAILABLE" or attempt == self.client.retries:
                    raise ServingError(error.details() or code, code) from None
            time.sleep(self.client.backoff * 2**attempt)
        raise AssertionError("unreachable")

    def status(self) -> list[dict]:
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec)
        if request.model_spec.version_label:  # status lists every version, as REST does
            request.model_spec.ClearField("version_label")
        answer = self._call(self.models.GetModelStatus, request)
        return json_format.MessageToDict(answer, always_print_fields_with_no_presence=True)[
            "model_version_status"
        ]

    def metadata(self) -> dict:
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest()
        self._spec(request.model_spec)
        request.metadata_field.append("signature_def")
        answer = self._call(self.predictions.GetModelMetadata, request)
        signatures = get_model_metadata_pb2.SignatureDefMap()
        answer.metadata["signature_def"].Unpack(signatures)
        options = dict(always_print_fields_with_no_presence=True, preserving_proto_field_name=True)
        return json_format.MessageToDict(signatures, **options)["signature_def"]

    def predict(self, instances: Any, inputs: Any, signature_name: str) -> Any:
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        key = signature_name or "serving_default"
        if key not in self._inputs:
            self._inputs[key] = sorted(self.metadata().get(key, {}).get("inputs", {}))
        names = self._inputs[key]
        value = instances if instances is not None else inputs
        if instances is not None and len(instances) and isinstance(instances[0], dict):
            value = {k: np.stack([np.asarray(row[k]) for row in instances]) for k in instances[0]}
        if not isinstance(value, dict):
            if len(names) != 1:
                raise ServingError(f"signature {key!r} takes inputs {names}: pass a dict")
            value = {names[0]: value}
        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec, signature_name)
        for name, array in value.items():
            array = np.asarray(array)
            if array.dtype.kind == "f" and array.dtype != np.float32:
                array = array.astype(np.float32)  # what a float32 signature takes
            request.inputs[name].CopyFrom(tf.make_tensor_proto(array))
        answer = self._call(self.predictions.Predict, request)
        outputs = {k: tf.make_ndarray(v) for k, v in answer.outputs.items()}
        return outputs[next(iter(outputs))] if len(outputs) == 1 else outputs

    def examples(self, api: str, rows: list[dict], context: dict | None, signature: str) -> Any:
        from tensorflow_serving.apis import classification_pb2, regression_pb2

        kind = classification_pb2.ClassificationRequest if api == "classify" else (
            regression_pb2.RegressionRequest)  # fmt: skip
        request = kind()
        self._spec(request.model_spec, signature)
        if context is not None:
            listed = request.input.example_list_with_context
            listed.context.CopyFrom(_example_proto(context))
        else:
            listed = request.input.example_list
        listed.examples.extend(_example_proto(row) for row in rows)
        if api == "classify":
            answer = self._call(self.predictions.Classify, request)
            return [[(c.label, c.score) for c in row.classes]
                    for row in answer.result.classifications]  # fmt: skip
        answer = self._call(self.predictions.Regress, request)
        return [r.value for r in answer.result.regressions]
