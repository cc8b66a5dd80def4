"""Which device graded a submission: CPU, or the GPUs nvidia-smi lists and CUDA may use."""

from __future__ import annotations

import pytest

from autograder.device import detect_device

FAKE_SMI = """#!/bin/sh
echo "0, GPU-aaaa-1111, NVIDIA H100 80GB HBM3"
echo "1, GPU-bbbb-2222, NVIDIA A100-SXM4-40GB"
"""


@pytest.fixture
def fake_smi(tmp_path, monkeypatch):
    smi = tmp_path / "nvidia-smi"
    smi.write_text(FAKE_SMI)
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    detect_device.cache_clear()
    yield monkeypatch
    detect_device.cache_clear()


def test_no_nvidia_smi_means_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    detect_device.cache_clear()
    assert detect_device() == "CPU"
    detect_device.cache_clear()


def test_all_gpus_when_cuda_visible_devices_is_unset(fake_smi):
    assert detect_device() == "NVIDIA H100 80GB HBM3; NVIDIA A100-SXM4-40GB"


@pytest.mark.parametrize(
    "visible, expected",
    [
        ("1", "NVIDIA A100-SXM4-40GB"),
        ("GPU-aaaa-1111", "NVIDIA H100 80GB HBM3"),
        ("1,0", "NVIDIA A100-SXM4-40GB; NVIDIA H100 80GB HBM3"),
        ("", "CPU"),
        ("-1", "CPU"),
    ],
)
def test_cuda_visible_devices_is_honoured(fake_smi, visible, expected):
    fake_smi.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert detect_device() == expected
