"""A client for TensorFlow Serving's REST API (and the course's server, which speaks it).

Introduced in lesson 09, which first builds the same requests by hand with ``requests``.
It sends nothing TF Serving would not accept, so it works against production unchanged.
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
    """Talk to one model on a TF Serving REST endpoint.

    Introduced in lesson 09. ``version`` or ``label`` pin a version (default: the latest).
    Requests time out after ``timeout`` seconds; a 503 (server busy or loading) or a refused
    connection is retried up to ``retries`` times with a growing pause; any other error raises
    :class:`ServingError` carrying the server's own message and HTTP status.

    Example::

        client = Client("http://localhost:8501", "digits")
        client.wait_until_available()
        probs = client.predict(X_test[:8] / 255.0)          # (8, num_classes)
        out = client.predict_images(["cat.jpg"], signature_name="serving_bytes")
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
    ):
        import requests

        if version is not None and label is not None:
            raise ValueError("give a version or a label, not both")
        self.url = url.rstrip("/")
        self.model = model
        self.version, self.label = version, label
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.session = requests.Session()

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
        return self._send("GET", self.model_url())["model_version_status"]

    def metadata(self) -> dict:
        """The signatures: ``{name: {"inputs": {...}, "outputs": {...}}}``."""
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

    def close(self) -> None:
        self.session.close()

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
