"""tensorflow_model_server's command line and start-up rules (model_servers/main.cc,
server_core.cc, file_system_storage_path_source.cc), batching's input rule, metrics only when
a monitoring config asks for them."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests
from helpers.serving import dtype_model, export, post, tiny_model

from course_tools.serving.server import TF_SERVING_FLAGS, build_parser, settings_from_args


def test_every_tf_serving_flag_parses_in_both_spellings(tmp_path):
    parser = build_parser()
    for name, kind, default, _ in TF_SERVING_FLAGS:
        assert getattr(parser.parse_args([]), name) == default
        if kind is str:
            value, want = "x", "x"
        elif kind in (int, float):
            value, want = "7", kind("7")
        else:
            value, want = "true" if not default else "false", not default
        assert getattr(parser.parse_args([f"--{name}={value}"]), name) == want, name
        assert getattr(parser.parse_args([f"--{name}", value]), name) == want, name


@pytest.mark.parametrize(
    "argv, want",
    [
        (["--enable_batching"], True),
        (["--enable_batching=true"], True),
        (["--enable_batching=1"], True),
        (["--enable_batching=false"], False),
        (["--enable_batching", "false", "--port=0"], False),
        ([], False),
    ],
)
def test_booleans_as_tensorflow_flags_spell_them(argv, want):
    assert build_parser().parse_args(argv).enable_batching is want


@pytest.mark.parametrize(
    "argv", [["--enable_batching=maybe"], ["--enable_batch"], ["--no_such_flag=1"], ["--port=x"]]
)
def test_bad_flags_exit_with_a_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(argv)
    assert caught.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_flags_reach_the_settings(tmp_path):
    (tmp_path / "m" / "1").mkdir(parents=True)
    monitoring = tmp_path / "monitoring.config"
    monitoring.write_text('prometheus_config { enable: true path: "/metrics" }')
    args = build_parser().parse_args(
        [
            f"--model_base_path={tmp_path / 'm'}",
            "--rest_api_enable_cors_support",
            "--rest_api_timeout_in_ms",
            "2500",
            "--port=0",
            f"--monitoring_config_file={monitoring}",
            "--allow_version_labels_for_unavailable_models=true",
            "--saved_model_tags=serve,gpu",
        ]
    )
    settings = settings_from_args(args)
    assert settings.cors and settings.timeout_ms == 2500 and settings.grpc_port == 0
    assert settings.metrics_path == "/metrics" and settings.allow_unavailable_labels
    assert settings.saved_model_tags == ("serve", "gpu")


def _config(tmp_path, labels: str) -> str:
    base = tmp_path / "tiny"
    if not (base / "1").exists():
        export(tiny_model(seed=2), tmp_path, "tiny", 1)
    config = tmp_path / "models.config"
    config.write_text(
        f"model_config_list {{ config {{ name: 'tiny' base_path: '{base}' "
        "model_version_policy { all {} } " + labels + " } }"
    )
    return str(config)


@pytest.mark.slow
def test_a_label_on_a_version_that_is_not_available_stops_the_server(tmp_path):
    config = _config(tmp_path, "version_labels { key: 'canary' value: 2 }")
    done = subprocess.run(
        [sys.executable, "-m", "course_tools.serving.server", f"--model_config_file={config}",
         "--rest_api_port=0", "--port=0"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]
    # server_core.cc UpdateModelVersionLabelMap
    assert (
        "Request to assign label to version 2 of model tiny, which is not currently available "
        "for inference" in done.stderr
    )


@pytest.mark.slow
def test_allowed_unavailable_label_serves_once_its_version_arrives(tmp_path):
    from course import serving

    config = _config(tmp_path, "version_labels { key: 'canary' value: 2 }")
    server = serving.start(
        model_config_file=config,
        backend="dev",
        verbose=False,
        poll_seconds=0.2,
        extra_args=["--allow_version_labels_for_unavailable_models"],
    )
    try:
        from helpers.serving import images

        row = (images(1) / 255.0).tolist()
        answer = post(f"{server.url}/v1/models/tiny/labels/canary:predict", {"instances": row})
        assert answer.status_code == 404
        assert "Servable not found for request: Specific(tiny, 2)" in answer.json()["error"]
        export(tiny_model(seed=3), tmp_path, "tiny", 2)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            answer = post(f"{server.url}/v1/models/tiny/labels/canary:predict", {"instances": row})
            if answer.status_code == 200:
                break
            time.sleep(0.2)
        assert answer.status_code == 200, answer.text
    finally:
        server.stop()


@pytest.mark.slow
def test_version_folders_with_leading_zeros_and_a_broken_neighbour(tmp_path):
    """file_system_storage_path_source.cc parses "00000007" as version 7; a model whose folder
    cannot be listed or loaded does not stop the next model getting new versions."""
    from course import serving

    (tmp_path / "good").mkdir()
    export(tiny_model(seed=4), tmp_path, "good", 1)
    broken = tmp_path / "broken"
    (broken / "1").mkdir(parents=True)
    (broken / "1" / "saved_model.pb").write_bytes(b"not a SavedModel")
    config = tmp_path / "models.config"
    config.write_text(
        "model_config_list {\n"
        f"  config {{ name: 'broken' base_path: '{broken}' }}\n"
        f"  config {{ name: 'good' base_path: '{tmp_path / 'good'}' }}\n"
        "}\n"
    )
    server = serving.start(model_config_file=config, backend="dev", verbose=False,
                           poll_seconds=0.2, wait=False)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{server.url}/v1/models/good", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        staged = export(tiny_model(seed=5), tmp_path / "staging", "good", 7)
        staged.rename(tmp_path / "good" / "00000007")  # appears whole, as a move does
        (broken / "2").mkdir()  # a second broken version while serving
        (broken / "2" / "saved_model.pb").write_bytes(b"still not one")
        deadline = time.monotonic() + 60
        versions: list = []
        while time.monotonic() < deadline:
            status = requests.get(f"{server.url}/v1/models/good", timeout=5).json()
            versions = [(s["version"], s["state"]) for s in status["model_version_status"]]
            if ("7", "AVAILABLE") in versions:
                break
            time.sleep(0.2)
        assert ("7", "AVAILABLE") in versions, versions
        broken_status = requests.get(f"{server.url}/v1/models/broken", timeout=5).json()
        assert broken_status["model_version_status"][0]["status"]["error_code"] == "UNKNOWN"
    finally:
        server.stop()


@pytest.mark.slow
def test_batching_refuses_inputs_of_different_batch_sizes_and_metrics_need_a_config(tmp_path):
    from course.serving.launcher import free_port

    dtype_model(tmp_path / "dtypes" / "1")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "course_tools.serving.server", "--model_name=dtypes",
         f"--model_base_path={tmp_path / 'dtypes'}", f"--rest_api_port={port}", "--port=0",
         "--enable_batching"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                requests.get(f"{url}/v1/models/dtypes", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.3)
        body = {"signature_name": "pair", "inputs": {"a": [[1, 2], [3, 4]], "b": ["x"]}}
        answer = post(f"{url}/v1/models/dtypes:predict", body)
        assert answer.status_code == 400
        # batching/batching_util.h ComputeTensorBatchSize
        assert answer.json()["error"] == (
            "Batching Run() input tensors must have equal 0th-dimension size"
        )
        body["inputs"]["b"] = ["x", "y"]
        assert post(f"{url}/v1/models/dtypes:predict", body).json()["outputs"]["b"] == ["X", "Y"]
        # no --monitoring_config_file: no Prometheus endpoint (model_servers/http_server.cc)
        assert requests.get(f"{url}/monitoring/prometheus/metrics", timeout=5).status_code == 404
    finally:
        process.terminate()
        process.wait(timeout=30)
