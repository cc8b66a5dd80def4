"""course.setup(): seeds, quiet logs, devices, strategy, test mode; `import course` stays light."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

import course
from course.env import FAST_ENV_VAR


def _run(code: str, **env) -> subprocess.CompletedProcess:
    import os

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=120
    )


def test_import_course_does_not_import_tensorflow_keras_or_matplotlib():
    done = _run(
        "import sys, course, course.data, course_tools.runner\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'matplotlib') if m in sys.modules))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_setup_keeps_tensorflow_startup_lines_off_stderr_without_any_preset_variables():
    done = _run(
        "import course\nenv = course.setup(seed=0)\nimport tensorflow as tf\n"
        "tf.constant(1.0) + 1.0\nprint('ok')"
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "devices: CPU" in done.stdout and done.stdout.strip().endswith("ok")


def test_setup_reports_backend_versions_devices_and_default_strategy_on_cpu(capsys):
    env = course.setup(seed=3)
    out = capsys.readouterr().out
    assert env.seed == 3 and env.backend == "tensorflow"
    assert env.devices == ["CPU"] and env.gpu is False
    assert type(env.strategy).__name__ == "_DefaultDistributionStrategy"
    assert "TensorFlow" in env.versions and "Keras" in env.versions
    assert "seed 3" in out and "devices: CPU" in out


def test_same_seed_gives_same_numpy_and_keras_draws_and_another_seed_does_not():
    import keras

    def draws(seed):
        course.setup(seed=seed, verbose=False)
        layer = keras.layers.Dense(4)
        layer.build((None, 5))
        return np.random.rand(5), keras.ops.convert_to_numpy(layer.kernel)

    a, b, c = draws(0), draws(0), draws(1)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0]) and not np.array_equal(a[1], c[1])


@pytest.mark.parametrize(
    ("value", "fast"), [("1", True), ("true", True), ("0", False), ("", False)]
)
def test_fast_flag_follows_the_environment_variable(monkeypatch, value, fast):
    monkeypatch.setenv(FAST_ENV_VAR, value)
    assert course.setup(seed=0, verbose=False).fast is fast


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_bad_seed_is_refused_with_a_clear_message(seed):
    with pytest.raises(ValueError, match="non-negative integer"):
        course.setup(seed=seed)


def test_warnings_after_setup_go_to_stdout_not_stderr(capsys):
    course.setup(seed=0, verbose=False)
    warnings.warn("a library warning", UserWarning, stacklevel=1)
    captured = capsys.readouterr()
    assert "a library warning" in captured.out
    assert captured.err == ""
