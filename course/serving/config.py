"""TF Serving's configuration files: ``models.config`` and the batching parameters file.

Introduced in lesson 09. :func:`read_model_config` parses a ``models.config`` (a text-format
``ModelServerConfig``, with TF Serving's own protos) into :class:`ModelConfig` entries;
:class:`BatchingParameters` is what ``--batching_parameters_file`` sets. Both the launcher
(``serving.start``) and the development server (``course_tools.serving``) read them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BatchingParameters",
    "ModelConfig",
    "PROMETHEUS_PATH",
    "model_configs",
    "read_batching_parameters",
    "read_model_config",
    "read_monitoring_config",
    "write_monitoring_config",
]

_LABEL = re.compile(r"^[a-zA-Z0-9_]+$")


@dataclass
class ModelConfig:
    """One model: its name, base path, version policy and labels."""

    name: str
    base_path: Path
    policy: str = "latest"  # latest | all | specific
    num_versions: int = 1
    versions: tuple[int, ...] = ()
    labels: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.base_path = Path(self.base_path)
        if not self.name:
            raise ValueError("a model config needs a name")
        for label in self.labels:
            if not _LABEL.match(label):
                raise ValueError(
                    f"version label {label!r} of model {self.name!r} must match [a-zA-Z0-9_]+"
                )

    def wanted(self, found: list[int]) -> set[int]:
        """The versions this policy serves, out of the numeric folders ``found``."""
        if self.policy == "all":
            return set(found)
        if self.policy == "specific":
            return set(self.versions) & set(found)
        return set(sorted(found)[-self.num_versions :])


def read_model_config(path: str | os.PathLike) -> list[ModelConfig]:
    """Parse a TF Serving ``models.config`` (text-format ModelServerConfig).

    Example::

        model_config_list {
          config { name: 'digits' base_path: '/models/digits' model_platform: 'tensorflow'
                   model_version_policy { specific { versions: 1 versions: 2 } }
                   version_labels { key: 'stable' value: 1 }
                   version_labels { key: 'canary' value: 2 } }
        }
    """
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    text = Path(path).read_text()
    proto = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, proto)
    except text_format.ParseError as exc:
        raise ValueError(f"{path}: not a valid TF Serving model config: {exc}") from None
    return model_configs(proto, where=str(path), relative_to=Path(path).resolve().parent)


def model_configs(proto: Any, where: str = "model config", relative_to: Path | None = None):
    """The :class:`ModelConfig` entries of a ``ModelServerConfig`` message (a parsed
    ``models.config``, or a gRPC ``ReloadConfigRequest``'s config)."""
    if not proto.HasField("model_config_list"):
        raise ValueError(f"{where}: expected a model_config_list {{ config {{ ... }} }} block")
    configs = []
    for item in proto.model_config_list.config:
        if item.model_platform not in ("", "tensorflow"):
            raise ValueError(
                f"{where}: model {item.name!r} has model_platform {item.model_platform!r}; "
                "only 'tensorflow' SavedModels are served"
            )
        policy = item.model_version_policy.WhichOneof("policy_choice") or "latest"
        base = Path(item.base_path)
        if not base.is_absolute() and relative_to is not None:
            base = relative_to / base
        configs.append(
            ModelConfig(
                name=item.name,
                base_path=base,
                policy=policy,
                num_versions=max(1, item.model_version_policy.latest.num_versions or 1),
                versions=tuple(item.model_version_policy.specific.versions),
                labels=dict(item.version_labels),
            )
        )
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: model names must be unique; got {names}")
    return configs


@dataclass
class BatchingParameters:
    """The fields of TF Serving's ``--batching_parameters_file`` that this server honours."""

    max_batch_size: int = 32
    batch_timeout_micros: int = 2000
    max_enqueued_batches: int = 1000
    num_batch_threads: int = 2

    def __post_init__(self) -> None:
        for name in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1; got {getattr(self, name)}")
        if int(self.batch_timeout_micros) < 0:
            raise ValueError(f"batch_timeout_micros must be >= 0; got {self.batch_timeout_micros}")


_FIELD = re.compile(r"^\s*(\w+)\s*\{\s*value\s*:\s*(-?\d+)\s*\}\s*$")


def read_batching_parameters(path: str | Path) -> BatchingParameters:
    """Parse a TF Serving batching parameters file (``max_batch_size { value: 32 }`` lines).

    Fields this server does not use (``pad_variable_length_inputs``, ...) are accepted and
    ignored; anything else that is not ``name { value: N }`` is an error naming the line.
    """
    known = set(BatchingParameters.__dataclass_fields__)
    values: dict[str, int] = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        match = _FIELD.match(text)
        if not match:
            raise ValueError(
                f"{path}:{number}: expected `name {{ value: N }}` (TF Serving's batching "
                f"parameters format); got {line.strip()!r}"
            )
        if match.group(1) in known:
            values[match.group(1)] = int(match.group(2))
    return BatchingParameters(**values)


PROMETHEUS_PATH = "/monitoring/prometheus/metrics"  # TF Serving's default (prometheus_exporter.cc)


def _monitoring_config_class() -> type:
    """TF Serving's ``MonitoringConfig`` message (``config/monitoring_config.proto``), which the
    ``tensorflow-serving-api`` package does not ship, declared here with the same fields."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    file = descriptor_pb2.FileDescriptorProto(
        name="course/monitoring_config.proto", package="tensorflow.serving", syntax="proto3"
    )
    prometheus = file.message_type.add(name="PrometheusConfig")
    prometheus.field.add(name="enable", number=1, type=8, label=1)  # bool
    prometheus.field.add(name="path", number=2, type=9, label=1)  # string
    monitoring = file.message_type.add(name="MonitoringConfig")
    monitoring.field.add(
        name="prometheus_config",
        number=1,
        type=11,  # message
        label=1,
        type_name=".tensorflow.serving.PrometheusConfig",
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    descriptor = pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig")
    return message_factory.GetMessageClass(descriptor)


def read_monitoring_config(path: str | os.PathLike) -> str | None:
    """The path Prometheus metrics are served at, or None when the file leaves them off.

    The file is TF Serving's ``--monitoring_config_file`` (text-format ``MonitoringConfig``)::

        prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }
    """
    from google.protobuf import text_format

    config = _monitoring_config_class()()
    try:
        text_format.Parse(Path(path).read_text(), config)
    except text_format.ParseError as exc:
        raise ValueError(f"{path}: not a MonitoringConfig ({exc})") from None
    if not config.prometheus_config.enable:
        return None
    return config.prometheus_config.path or PROMETHEUS_PATH


def write_monitoring_config(folder: str | os.PathLike, path: str = PROMETHEUS_PATH) -> Path:
    """A ``monitoring.config`` that turns on Prometheus metrics at ``path``."""
    file = Path(folder) / "monitoring.config"
    file.write_text(f'prometheus_config {{\n  enable: true\n  path: "{path}"\n}}\n')
    return file
