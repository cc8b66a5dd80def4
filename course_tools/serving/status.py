"""Model status and metadata as TF Serving answers them, for REST (JSON) and gRPC (protos).

``GetModelStatusResponse`` (model_servers/get_model_status_impl.cc) and
``GetModelMetadataResponse`` with the ``signature_def`` map (get_model_metadata_impl.cc), built
with TF Serving's own protos (``tensorflow-serving-api``).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["metadata_json", "metadata_proto", "status_json", "status_proto"]


def status_json(name: str, items: list) -> str:
    from google.protobuf import json_format

    return json_format.MessageToJson(
        status_proto(items), always_print_fields_with_no_presence=True, indent=1
    )


def status_proto(items: list) -> Any:
    """``GetModelStatusResponse`` for (version, VersionState) pairs (get_model_status_impl)."""
    from tensorflow_serving.apis import get_model_status_pb2

    response = get_model_status_pb2.GetModelStatusResponse()
    for version, state in items:
        entry = response.model_version_status.add()
        entry.version = version
        entry.state = get_model_status_pb2.ModelVersionStatus.State.Value(state.state)
        entry.status.error_code = _error_code(state.error_code)
        entry.status.error_message = state.error_message
    return response


def _error_code(name: str) -> int:
    from tensorflow.core.protobuf import error_codes_pb2

    return error_codes_pb2.Code.Value(name)


def metadata_proto(servable: Any) -> Any:
    """``GetModelMetadataResponse`` with the signature_def map (get_model_metadata_impl)."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = servable.name
    response.model_spec.version.value = servable.version
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    for key, value in servable.signature_defs.items():
        sig_map.signature_def[key].CopyFrom(value)
    response.metadata["signature_def"].Pack(sig_map)
    return response


def metadata_json(servable: Any) -> str:
    from google.protobuf import json_format
    from tensorflow_serving.apis import get_model_metadata_pb2, model_pb2

    spec = model_pb2.ModelSpec(name=servable.name)
    spec.version.value = servable.version
    spec.signature_name = ""
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    for key, value in servable.signature_defs.items():
        sig_map.signature_def[key].CopyFrom(value)
    options = dict(always_print_fields_with_no_presence=True, preserving_proto_field_name=True)
    return json.dumps(
        {
            "model_spec": json_format.MessageToDict(spec, **options),
            "metadata": {"signature_def": json_format.MessageToDict(sig_map, **options)},
        },
        indent=1,
    )
