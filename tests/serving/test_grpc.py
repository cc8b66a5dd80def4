"""gRPC on ``--port``: TF Serving's own Python client (tensorflow-serving-api's stubs) predicts,
classifies, regresses and reads metadata and status from the development server, and its
answers equal the REST answers and the in-process model (model_servers/prediction_service_impl.cc,
model_service_impl.cc)."""

from __future__ import annotations

import numpy as np
import pytest
import requests
from helpers.serving import images, post, tiny_and_half_plus_three

pytestmark = pytest.mark.slow
grpc = pytest.importorskip("grpc")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from course import serving

    root = tmp_path_factory.mktemp("grpc")
    model, config = tiny_and_half_plus_three(root, seed=7)
    server = serving.start(model_config_file=config, backend="dev", verbose=False)
    channel = grpc.insecure_channel(server.grpc_target)
    yield server, channel, model, root
    channel.close()
    server.stop()


def _stubs(channel):
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

    return (
        prediction_service_pb2_grpc.PredictionServiceStub(channel),
        model_service_pb2_grpc.ModelServiceStub(channel),
    )


def _predict_request(name, x, signature="", outputs=()):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    request.inputs["image"].CopyFrom(tf.make_tensor_proto(x))
    request.output_filter.extend(outputs)
    return request


def test_predict_equals_rest_and_the_model(served):
    import tensorflow as tf

    server, channel, model, _ = served
    predict, _ = _stubs(channel)
    x = (images(3, seed=1) / 255.0).astype("float32")
    answer = predict.Predict(_predict_request("tiny", x), timeout=30)
    got = tf.make_ndarray(answer.outputs["probabilities"])
    rest = post(f"{server.url}/v1/models/tiny:predict", {"instances": x.tolist()}).json()
    np.testing.assert_allclose(got, rest["predictions"], atol=1e-6)
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=1e-5)
    assert answer.model_spec.name == "tiny" and answer.model_spec.version.value == 1
    assert answer.model_spec.signature_name == "serving_default"


def test_predict_errors_carry_tf_servings_codes_and_messages(served):
    _, channel, _, _ = served
    predict, _ = _stubs(channel)
    x = (images(1) / 255.0).astype("float32")
    cases = [
        (_predict_request("nope", x), "NOT_FOUND", "Servable not found for request: Latest(nope)"),
        (_predict_request("tiny", x, "nope"), "FAILED_PRECONDITION",
         'Serving signature key "nope" not found.'),  # predict_util.cc RunPredict
        (_predict_request("tiny", x, outputs=["nope"]), "INVALID_ARGUMENT",
         "output tensor alias not found in signature: nope"),  # predict_util.cc
    ]  # fmt: skip
    from tensorflow_serving.apis import predict_pb2

    empty = predict_pb2.PredictRequest()
    empty.model_spec.name = "tiny"
    cases.append((empty, "INVALID_ARGUMENT", "input size does not match signature: 0!=1"))
    for request, code, message in cases:
        with pytest.raises(grpc.RpcError) as caught:
            predict.Predict(request, timeout=30)
        assert caught.value.code().name == code, caught.value.details()
        assert message in caught.value.details()


def test_classify_and_regress_equal_the_rest_answers(served):
    from tensorflow.core.example import example_pb2
    from tensorflow_serving.apis import classification_pb2, regression_pb2

    server, channel, _, _ = served
    predict, _ = _stubs(channel)

    def example(x):
        e = example_pb2.Example()
        e.features.feature["x"].float_list.value.append(x)
        return e

    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "hp3"
    request.model_spec.signature_name = "classify_with_classes"
    request.input.example_list.examples.extend([example(2.0), example(4.0)])
    answer = predict.Classify(request, timeout=30)
    got = [[(c.label, c.score) for c in row.classes] for row in answer.result.classifications]
    rest = post(f"{server.url}/v1/models/hp3:classify",
                {"signature_name": "classify_with_classes",
                 "examples": [{"x": 2.0}, {"x": 4.0}]}).json()  # fmt: skip
    assert got == [[tuple(pair) for pair in row] for row in rest["results"]]
    assert got[0] == [("low", 4.0), ("high", -4.0)]

    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "hp3"
    listed = request.input.example_list_with_context
    listed.context.features.feature["bias"].float_list.value.append(10.0)
    listed.examples.extend([example(1.0), example(2.0)])
    answer = predict.Regress(request, timeout=30)
    body = {"context": {"bias": 10.0}, "examples": [{"x": 1.0}, {"x": 2.0}]}
    rest = post(f"{server.url}/v1/models/hp3:regress", body).json()
    assert [r.value for r in answer.result.regressions] == rest["results"] == [13.5, 14.0]
    assert answer.model_spec.version.value == 123


def test_metadata_and_status_equal_the_rest_answers(served):
    from tensorflow_serving.apis import (
        get_model_metadata_pb2,
        get_model_status_pb2,
    )

    server, channel, _, _ = served
    predict, models = _stubs(channel)
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "hp3"
    request.metadata_field.append("signature_def")
    answer = predict.GetModelMetadata(request, timeout=30)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    answer.metadata["signature_def"].Unpack(signatures)
    rest = requests.get(f"{server.url}/v1/models/hp3/metadata", timeout=30).json()
    assert set(signatures.signature_def) == set(rest["metadata"]["signature_def"]["signature_def"])
    assert signatures.signature_def["classify_x_to_y"].method_name == "tensorflow/serving/classify"

    status = models.GetModelStatus(
        get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "hp3"}), timeout=30
    )
    rest = requests.get(f"{server.url}/v1/models/hp3", timeout=30).json()
    assert [(s.version, get_model_status_pb2.ModelVersionStatus.State.Name(s.state))
            for s in status.model_version_status] == [
        (int(s["version"]), s["state"]) for s in rest["model_version_status"]
    ] == [(123, "AVAILABLE")]  # fmt: skip
    with pytest.raises(grpc.RpcError) as caught:
        models.GetModelStatus(
            get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "nope"}), timeout=30
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "Could not find any versions of model nope" in caught.value.details()


def test_grpc_requests_are_counted_in_tf_servings_metrics(served):
    server, channel, _, _ = served
    predict, _ = _stubs(channel)
    predict.Predict(_predict_request("tiny", (images(1) / 255.0).astype("float32")), timeout=30)
    text = requests.get(server.url + "/monitoring/prometheus/metrics", timeout=30).text
    assert ':tensorflow:serving:request_latency_count{model_name="tiny",API="Predict",' \
           'entrypoint="GRPC"}' in text  # fmt: skip


def test_reload_config_over_grpc_drops_and_adds_models(served):
    from tensorflow_serving.apis import model_management_pb2

    server, channel, _, root = served
    _, models = _stubs(channel)
    request = model_management_pb2.ReloadConfigRequest()
    entry = request.config.model_config_list.config.add()
    entry.name, entry.base_path, entry.model_platform = "tiny", str(root / "tiny"), "tensorflow"
    models.HandleReloadConfigRequest(request, timeout=60)
    status = requests.get(f"{server.url}/v1/models/hp3", timeout=30).json()
    assert status["model_version_status"][0]["state"] == "END"
    assert (
        post(f"{server.url}/v1/models/hp3:regress", {"examples": [{"x": 1.0}]}).status_code == 404
    )
    hp3 = request.config.model_config_list.config.add()
    hp3.name, hp3.base_path = "hp3", str(root / "hp3")
    models.HandleReloadConfigRequest(request, timeout=60)
    assert post(f"{server.url}/v1/models/hp3:regress", {"examples": [{"x": 1.0}]}).json() == {
        "results": [3.5]
    }


def test_the_course_client_answers_alike_over_rest_and_grpc(served):
    from course.serving import Client

    server, _, model, _ = served
    x = (images(2, seed=4) / 255.0).astype("float32")
    with (
        Client(server.url, "tiny") as rest,
        Client(server.grpc_target, "tiny", protocol="grpc") as fast,
    ):
        np.testing.assert_allclose(fast.predict(x), rest.predict(x), atol=1e-6)
        np.testing.assert_allclose(fast.predict(inputs=x), model.predict(x, verbose=0), atol=1e-5)
        assert fast.status() == rest.status()
        assert set(fast.metadata()) == set(rest.metadata())
    with (
        Client(server.url, "hp3") as rest,
        Client(server.grpc_target, "hp3", protocol="grpc") as fast,
    ):
        rows = [{"x": 1.0}, {"x": 3.0}]
        assert fast.regress(rows) == rest.regress(rows) == [3.5, 4.5]
        assert fast.regress(rows, context={"bias": 1.0}) == rest.regress(
            rows, context={"bias": 1.0}
        )
        labels = fast.classify(rows, signature_name="classify_with_classes")
        assert labels == rest.classify(rows, signature_name="classify_with_classes")
        assert labels[1] == [("low", 4.5), ("high", -4.5)]
    with pytest.raises(Exception, match="Servable not found"):
        Client(server.grpc_target, "nope", protocol="grpc", retries=0).predict(x)
