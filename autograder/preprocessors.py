"""nbgrader preprocessors the course adds to autograding and feedback.

- :class:`Execute` is nbgrader's ``Execute`` that remembers the cell during which the kernel
  died, so the grader can tell the instructor where a submission crashed.
- :class:`StderrToStdout` runs right after ``Execute``: it turns ``stderr`` stream outputs of
  graded cells into ``stdout`` streams prefixed with ``[stderr]``. nbgrader scores a test cell
  with any stderr output as 0 (``nbgrader.utils.determine_grade``); library log noise must not
  turn a correct answer into 0. Errors (output type ``error``) still fail the cell.
- :class:`HideHiddenTests` runs before feedback is rendered: it removes the
  ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` region from graded cells and cuts
  tracebacks of graded cells down to ``Error: message``, so feedback never shows hidden tests.
"""

from __future__ import annotations

from typing import Any, ClassVar

from nbclient.exceptions import DeadKernelError
from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute as NbgraderExecute
from nbgrader.preprocessors import NbGraderPreprocessor

STDERR_PREFIX = "[stderr] "
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"


class Execute(NbgraderExecute):
    """nbgrader's ``Execute``; records the cell that was running when the kernel died."""

    died_at: ClassVar[dict[str, Any] | None] = None

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        """Execute one cell; on a dead kernel remember which cell it was, then re-raise."""
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            first = next((ln for ln in str(cell.source).splitlines() if ln.strip()), "")
            Execute.died_at = {
                "index": index,
                "grade_id": cell.metadata.get("nbgrader", {}).get("grade_id"),
                "first_line": first.strip()[:80],
            }
            raise


class StderrToStdout(NbGraderPreprocessor):
    """Turn stderr streams of graded cells into prefixed stdout streams (see module doc)."""

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, cell_index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        """Rewrite the stderr outputs of one graded code cell."""
        if cell.cell_type == "code" and utils.is_grade(cell):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream" and output.get("name") == "stderr":
                    output["name"] = "stdout"
                    output["text"] = prefix_lines(str(output.get("text", "")))
        return cell, resources


def prefix_lines(text: str, prefix: str = STDERR_PREFIX) -> str:
    """Prefix every line of ``text`` with ``prefix``, keeping line ends."""
    return "".join(prefix + line for line in text.splitlines(keepends=True))


def strip_hidden_tests(source: str) -> tuple[str, bool]:
    """Remove hidden-test regions from a cell's source; return the text and whether any was."""
    kept, hidden, removed = [], False, False
    for line in source.split("\n"):
        if BEGIN_HIDDEN in line:
            hidden, removed = True, True
        elif END_HIDDEN in line:
            hidden = False
        elif not hidden:
            kept.append(line)
    return "\n".join(kept), removed


class HideHiddenTests(NbGraderPreprocessor):
    """Hide hidden tests in feedback: their source, and tracebacks that would quote them."""

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, cell_index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        """Strip one cell's hidden-test region and shorten its tracebacks when it is graded."""
        if cell.cell_type != "code":
            return cell, resources
        cell.source, removed = strip_hidden_tests(str(cell.source))
        if removed or utils.is_grade(cell):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    message = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
                    output["traceback"] = [message.rstrip(": ")]
        return cell, resources
