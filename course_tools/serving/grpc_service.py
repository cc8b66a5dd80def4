"""TF Serving's gRPC API on ``--port``: PredictionService and ModelService.

The service definitions and messages are TF Serving's own (``tensorflow-serving-api``), so
``prediction_service_pb2_grpc.PredictionServiceStub`` and ``model_service_pb2_grpc.
ModelServiceStub`` (the clients TF Serving documents) talk to this server unchanged:
``Predict``, ``Classify``, ``Regress``, ``GetModelMetadata``, ``GetModelStatus`` and
``HandleReloadConfigRequest``. Requests go through the same repository, thread pool, batcher,
deadline and metrics as the REST side, on the same event loop (grpc.aio).
Errors carry TF Serving's status codes and messages (``predict_util.cc``, ``classifier.cc``,
``regressor.cc``, ``get_model_metadata_impl.cc``, ``get_model_status_impl.cc``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import numpy as np

from course.serving.errors import ServingError
from course_tools.serving import examples
from course_tools.serving.status import metadata_proto, status_proto

__all__ = ["start_grpc"]

log = logging.getLogger("course.serving")
MAX_MESSAGE_BYTES = 2**31 - 1  # TF Serving lifts gRPC's 4 MB default


def _grpc_code(name: str) -> Any:
    import grpc

    return getattr(grpc.StatusCode, name, grpc.StatusCode.UNKNOWN)


def _abort_errors() -> tuple[type, ...]:
    from grpc.aio import AbortError

    return (AbortError,)


def _model_spec(request_spec: Any, servable: Any, signature_name: str | None) -> Any:
    from tensorflow_serving.apis import model_pb2

    spec = model_pb2.ModelSpec(name=request_spec.name)
    spec.version.value = servable.version
    if signature_name is not None:
        spec.signature_name = signature_name
    return spec


class _Services:
    """The handlers of both services (named as the .proto names them), bound to one
    :class:`~.server.DevServer`."""

    def __init__(self, server: Any):
        self.server = server

    # ---- plumbing -------------------------------------------------------------------------
    async def _call(self, api: str, model: str, context: Any, work: Any) -> Any:
        """Await ``work()`` on the server's event loop; count it as TF Serving does."""
        started = time.perf_counter()
        metrics = self.server.metrics
        self.server.in_flight += 1
        code = "OK"
        try:
            if self.server.stopping:
                raise ServingError("The server is shutting down", "UNAVAILABLE")
            return await work()
        except ServingError as error:
            code = error.code
            await context.abort(_grpc_code(error.code), error.message)
        except Exception as error:
            if isinstance(error, _abort_errors()):  # context.abort's own exception
                raise
            code = "INTERNAL"  # a bug, not the client's fault: say so, keep serving
            log.exception("gRPC %s failed", api)
            await context.abort(_grpc_code("INTERNAL"), f"Internal error: {error}")
        finally:
            self.server.in_flight -= 1
            metrics.request_count.inc(model, code)
            if code == "OK" and api in ("Predict", "Classify", "Regress"):
                micros = (time.perf_counter() - started) * 1e6
                metrics.request_latency.observe(micros, model, api, "GRPC")

    def _resolve(self, spec: Any) -> Any:
        version = spec.version.value if spec.HasField("version") else None
        label = spec.version_label or None
        return self.server.repository.resolve(spec.name, version, label)

    # ---- PredictionService ----------------------------------------------------------------
    async def Predict(self, request: Any, context: Any) -> Any:
        async def work() -> Any:
            from tensorflow.python.framework import tensor_util
            from tensorflow_serving.apis import predict_pb2

            servable = self._resolve(request.model_spec)
            key = request.model_spec.signature_name or "serving_default"
            if key not in servable.signatures:
                raise ServingError(
                    f'Serving signature key "{key}" not found.', "FAILED_PRECONDITION"
                )
            signature = servable.signatures[key]
            sent, wanted = set(request.inputs), set(signature.inputs)
            if sent != wanted:
                raise ServingError(
                    f"input size does not match signature: {len(sent)}!={len(wanted)} "
                    f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(wanted))}}}). "
                    f"Sent extra: {{{','.join(sorted(sent - wanted))}}}. Missing but required: "
                    f"{{{','.join(sorted(wanted - sent))}}}."
                )
            arrays = {}
            for name, proto in request.inputs.items():
                try:
                    array = tensor_util.MakeNdarray(proto)
                except (TypeError, ValueError) as exc:
                    raise ServingError(f"Input {name}: {exc}") from None
                arrays[name] = array
            outputs_wanted = list(request.output_filter) or signature.outputs
            for alias in outputs_wanted:
                if alias not in signature.outputs:
                    raise ServingError(
                        f"output tensor alias not found in signature: {alias} Outputs expected "
                        f"to be in the set {{{','.join(sorted(signature.outputs))}}}."
                    )
            if len(set(outputs_wanted)) != len(outputs_wanted):
                raise ServingError("duplicate output tensor alias: " + outputs_wanted[0])
            outputs = await self.server.run(servable, signature, arrays, "Predict")
            response = predict_pb2.PredictResponse()
            response.model_spec.CopyFrom(_model_spec(request.model_spec, servable, key))
            for alias in outputs_wanted:
                value = outputs[alias]
                if value.dtype == object:
                    value = np.asarray(value, dtype=object)
                response.outputs[alias].CopyFrom(tensor_util.make_tensor_proto(value))
            return response

        return await self._call("Predict", request.model_spec.name, context, work)

    async def _examples(self, request: Any, context: Any, api: str, response: Any) -> Any:
        """Classify or Regress: run the request's examples; ``response`` with its model spec
        filled in, and the rows (label/score pairs) or values to put in it."""

        async def work() -> Any:
            servable = self._resolve(request.model_spec)
            serialized = examples.serialized_input(request.input)
            result = await self.server.run_examples(
                servable, request.model_spec.signature_name, serialized, api
            )
            return servable, result

        model = request.model_spec.name
        servable, result = await self._call(api.capitalize(), model, context, work)
        key = request.model_spec.signature_name or "serving_default"
        response.model_spec.CopyFrom(_model_spec(request.model_spec, servable, key))
        return result

    async def Classify(self, request: Any, context: Any) -> Any:
        from tensorflow_serving.apis import classification_pb2

        response = classification_pb2.ClassificationResponse()
        for row in await self._examples(request, context, "classify", response):
            classes = response.result.classifications.add()
            for label, score in row:
                classes.classes.add(label=label, score=score)
        return response

    async def Regress(self, request: Any, context: Any) -> Any:
        from tensorflow_serving.apis import regression_pb2

        response = regression_pb2.RegressionResponse()
        for value in await self._examples(request, context, "regress", response):
            response.result.regressions.add(value=value)
        return response

    async def GetModelMetadata(self, request: Any, context: Any) -> Any:
        async def work() -> Any:
            if not request.metadata_field:
                raise ServingError("GetModelMetadataRequest must specify at least one field")
            for field in request.metadata_field:
                if field != "signature_def":
                    raise ServingError(f"Metadata field {field} is not supported")
            return metadata_proto(self._resolve(request.model_spec))

        return await self._call("GetModelMetadata", request.model_spec.name, context, work)

    async def MultiInference(self, request: Any, context: Any) -> Any:
        await context.abort(
            _grpc_code("UNIMPLEMENTED"),
            "MultiInference is not served by the development server; send Classify and "
            "Regress requests",
        )

    # ---- ModelService ---------------------------------------------------------------------
    async def GetModelStatus(self, request: Any, context: Any) -> Any:
        async def work() -> Any:
            spec = request.model_spec
            if not spec.name:
                raise ServingError("Missing model name in request.")
            version = spec.version.value if spec.HasField("version") else None
            return status_proto(self.server.repository.status(spec.name, version))

        return await self._call("GetModelStatus", request.model_spec.name, context, work)

    async def HandleReloadConfigRequest(self, request: Any, context: Any) -> Any:
        from tensorflow_serving.apis import model_management_pb2

        from course.serving.config import model_configs

        async def work() -> Any:
            try:
                configs = model_configs(request.config)
            except ValueError as exc:
                raise ServingError(str(exc)) from None
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(
                None,
                self.server.repository.reconfigure,
                configs,
                self.server.settings.allow_unavailable_labels,
            )
            return model_management_pb2.ReloadConfigResponse()

        return await self._call("HandleReloadConfigRequest", "", context, work)


async def start_grpc(server: Any) -> Any:
    """Start the gRPC server for ``server`` (a DevServer) on its port and/or UNIX socket, on
    the running event loop (grpc.aio): requests are served where the REST ones are, with no
    thread hand-off."""
    import grpc
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

    settings = server.settings
    services = _Services(server)
    grpc_server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ],
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(services, grpc_server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(services, grpc_server)
    if settings.grpc_port:
        address = f"{settings.host}:{settings.grpc_port}"
        if grpc_server.add_insecure_port(address) == 0:
            raise OSError(f"cannot listen for gRPC on {address} (is the port taken?)")
        print(f"Running gRPC ModelServer at {address} ...", flush=True)
    if settings.grpc_socket_path:
        grpc_server.add_insecure_port(f"unix:{settings.grpc_socket_path}")
        print(f"Running gRPC ModelServer at UNIX socket {settings.grpc_socket_path} ...")
    await grpc_server.start()
    return grpc_server
