"""nbgrader preprocessors the course adds to autograding and feedback, one per module.

- :class:`Execute` (``execute``): nbgrader's ``Execute`` with sandboxed kernels, the integrity
  guard, values judged outside the kernel, survival of a dead kernel and a cap on output;
- :class:`StderrToStdout` (``stderr``): library noise on stderr never zeroes a test cell;
- :class:`HideHiddenTests` (``hidden_tests``): feedback never shows hidden tests.
"""

from autograder.preprocessors.execute import Execute
from autograder.preprocessors.hidden_tests import HideHiddenTests, strip_hidden_tests
from autograder.preprocessors.stderr import StderrToStdout, prefix_lines

__all__ = ["Execute", "HideHiddenTests", "StderrToStdout", "prefix_lines", "strip_hidden_tests"]
