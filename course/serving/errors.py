"""TF Serving's errors as the client sees them: the status codes and :class:`ServingError`.

Introduced in lesson 09. tensorflow/serving answers an error with ``{"error": "<message>"}`` and
the HTTP code its status maps to (``model_servers/http_server.cc``); the course's client raises
:class:`ServingError` with the server's own message, and the development server
(``course_tools.serving``) answers with the same codes.
"""

from __future__ import annotations

import json

__all__ = ["HTTP_CODES", "ServingError", "error_body"]

# tensorflow/serving model_servers/http_server.cc: ToHTTPStatusCode.
HTTP_CODES = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


class ServingError(Exception):
    """An error with TF Serving's status code; ``http_status`` is what the REST API answers.

    The client raises it too, with the server's own message (lesson 09).
    """

    def __init__(
        self, message: str, code: str = "INVALID_ARGUMENT", http_status: int | None = None
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status if http_status is not None else HTTP_CODES.get(code, 500)

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.http_status})"


def error_body(message: str) -> str:
    """The JSON body TF Serving sends with an error."""
    return json.dumps({"error": message})
