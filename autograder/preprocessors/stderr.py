"""Library log noise on stderr must not turn a correct answer into 0.

nbgrader scores a test cell with any stderr output as 0 (``nbgrader.utils.determine_grade``).
:class:`StderrToStdout` runs right after :class:`~autograder.preprocessors.execute.Execute`: it
turns ``stderr`` stream outputs of graded cells into ``stdout`` streams prefixed with
``[stderr]``. Errors (output type ``error``) still fail the cell.
"""

from __future__ import annotations

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor

STDERR_PREFIX = "[stderr] "


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
