"""What the tests share: the repository's root and helpers by subject.

``tests/`` is on ``sys.path`` (``pythonpath`` in pyproject.toml), so every test imports them
one way: ``from helpers import REPO``, ``from helpers.sandbox import require_sandbox``,
``from fixtures.answers import lesson_06``.
"""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
FIXTURES = REPO / "tests" / "fixtures"
