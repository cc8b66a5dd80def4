"""Deployment with TensorFlow Serving: export, a compatible server, a launcher, a client.

Introduced in lesson 09 (deployment-tf-serving). Nothing heavy is imported here; TensorFlow
loads when a function that needs it runs.

- :func:`export` writes ``<base>/<name>/<version>/`` with a float and an image-bytes signature;
- :func:`start` starts real TF Serving when the machine has it, else the course's server;
- :class:`Client` talks to either over REST; :class:`ServingError` carries the server's message.
"""

from __future__ import annotations

from typing import Any

from course.serving.errors import ServingError

__all__ = [
    "BYTES_SIGNATURE",
    "Client",
    "DEFAULT_SIGNATURE",
    "ServingError",
    "docker_command",
    "encode_image",
    "export",
    "next_version",
    "start",
    "versions",
]

_LAZY = {
    "BYTES_SIGNATURE": "course.serving.savedmodel",
    "DEFAULT_SIGNATURE": "course.serving.savedmodel",
    "export": "course.serving.savedmodel",
    "next_version": "course.serving.savedmodel",
    "versions": "course.serving.savedmodel",
    "Client": "course.serving.client",
    "encode_image": "course.serving.client",
    "start": "course.serving.launcher",
    "docker_command": "course.serving.launcher",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'course.serving' has no attribute {name!r}")
