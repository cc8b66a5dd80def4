"""nbgrader configuration of the course.

Use it from the repository root (nbgrader 0.9.6's subcommands do not accept the short
``--config`` alias of other Jupyter apps; the long form works)::

    nbgrader autograde 01-data-preprocessing --JupyterApp.config_file=autograder/nbgrader_config.py
    nbgrader generate_feedback 01-data-preprocessing \
        --JupyterApp.config_file=autograder/nbgrader_config.py

``solutions/`` is the source directory and ``lessons/`` the release directory (but release with
``autograder release``, which writes canonical notebooks). Submissions, autograded notebooks,
feedback and the gradebook (``gradebook.db``) live in the course directory, outside git:
``$AUTOGRADER_COURSE_DIR``, by default ``<repo>/grading/`` (git-ignored). ``autograder grade``
loads this same file and points each job at a temporary course root of its own.
"""

import os
import sys
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from nbconvert.preprocessors import (  # noqa: E402
    ClearMetadataPreprocessor,
    CSSHTMLHeaderPreprocessor,
)
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties,
    CheckCellMetadata,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    SaveAutoGrades,
)

from autograder.preprocessors import (  # noqa: E402
    Execute,
    HideHiddenTests,
    StderrToStdout,
)

c = get_config()  # noqa: F821  (provided by traitlets when it loads this file)

_course = Path(os.environ.get("AUTOGRADER_COURSE_DIR") or _REPO / "grading").resolve()
_course.mkdir(parents=True, exist_ok=True)  # nbgrader changes into it before anything else

c.CourseDirectory.root = str(_course)
c.CourseDirectory.source_directory = str(_REPO / "solutions")
c.CourseDirectory.release_directory = str(_REPO / "lessons")
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = f"sqlite:///{_course / 'gradebook.db'}"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]

# Execution: a cell that runs past the timeout is interrupted and fails; later cells still run.
c.Execute.timeout = int(os.environ.get("AUTOGRADER_TIMEOUT", "120"))
c.Execute.interrupt_on_timeout = True
c.Execute.raise_on_iopub_timeout = False
c.Execute.startup_timeout = 120

c.Autograde.autograde_preprocessors = [
    Execute,
    StderrToStdout,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]

# Feedback never shows hidden tests, neither their source nor tracebacks quoting them.
c.GenerateFeedback.preprocessors = [HideHiddenTests, GetGrades, CSSHTMLHeaderPreprocessor]
