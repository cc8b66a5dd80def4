"""Feedback never shows hidden tests.

:class:`HideHiddenTests` runs before feedback is rendered: it removes the
``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` region from graded cells and cuts
tracebacks of graded cells down to ``Error: message``, so they cannot quote a hidden test.
"""

from __future__ import annotations

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor

BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"


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
