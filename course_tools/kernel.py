"""Register this environment's Jupyter kernel with the course's quiet-log settings.

``python -m course_tools.kernel`` (run by ``make lab`` and ``make test``) installs the kernel spec
``python3`` into the virtual environment, pointing at its Python and setting
``TF_CPP_MIN_LOG_LEVEL`` and ``TF_ENABLE_ONEDNN_OPTS`` so TensorFlow stays quiet from the
first import. Lessons name the ``python3`` kernel, so they open with it in JupyterLab and
nbgrader executes them with it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from course.env import QUIET_ENV

KERNEL_NAME = "python3"
DISPLAY_NAME = "Python 3 (image course)"


def install() -> str:
    """Install the kernel spec into ``sys.prefix`` and return its directory."""
    from ipykernel.kernelspec import install as install_kernelspec

    path = install_kernelspec(
        kernel_name=KERNEL_NAME,
        display_name=DISPLAY_NAME,
        prefix=sys.prefix,
        env=dict(QUIET_ENV),
    )
    # The kernel's own start-up warnings (e.g. "running over TCP without encryption" on a local
    # machine) go to the terminal of every headless run; the learner can do nothing about them.
    spec_file = Path(path) / "kernel.json"
    spec = json.loads(spec_file.read_text())
    if "--IPKernelApp.log_level=ERROR" not in spec["argv"]:
        spec["argv"].insert(spec["argv"].index("-f"), "--IPKernelApp.log_level=ERROR")
    spec_file.write_text(json.dumps(spec, indent=1) + "\n")
    return path


if __name__ == "__main__":
    path = install()
    print(f"kernel '{KERNEL_NAME}' ({DISPLAY_NAME}) installed in {path}")
