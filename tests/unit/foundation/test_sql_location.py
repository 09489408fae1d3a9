"""SQL text lives only in ``ml_prediction_service/db/``: no other module holds a statement.

Every ``.py`` file of the package outside ``db/`` is parsed with ``ast``; a string constant
(an f-string with its placeholders left out) that starts like a SQL statement and names what
it works on is a finding. Docstrings and argparse ``help=`` texts are prose and not looked at.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "src" / "ml_prediction_service"

SQL_STATEMENT = re.compile(
    r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|CREATE|ALTER|DROP)\b.*"
    r"\b(FROM|INTO|SET|TABLE|INDEX|TRIGGER)\b",
    re.IGNORECASE | re.DOTALL,
)


def _prose(tree: ast.AST) -> set[int]:
    """ids of the string nodes that are docstrings or ``help=`` texts."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                skipped.add(id(body[0].value))
        elif isinstance(node, ast.keyword) and node.arg == "help":
            skipped.update(id(n) for n in ast.walk(node.value))
    return skipped


def _text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else " "
            for v in node.values
        )
    return None


def sql_strings(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """(line, first line of the text) of every SQL-looking string in ``source``."""
    tree = ast.parse(source, filename)
    skipped = _prose(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            skipped.update(id(v) for v in node.values)  # judged as one f-string
    for node in ast.walk(tree):
        text = _text(node)
        if text is None or id(node) in skipped or not SQL_STATEMENT.search(text):
            continue
        found.append((getattr(node, "lineno", 0), text.strip().splitlines()[0][:60]))
    return found


def _outside_db() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] != "db")


def test_the_check_finds_statements_and_leaves_prose_alone() -> None:
    source = '''
"""Module docstring: SELECT the rows FROM the table."""
import argparse

def f(name: str) -> None:
    """Drop rows outside the history, split into coins."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--x", help="update the set of coins")
    query = "SELECT 1 FROM ml_models WHERE name = $1"
    other = f"""
        INSERT INTO {name} (a) VALUES ($1)
    """
    label = "Delete this model"
'''
    assert [line for line, _ in sql_strings(source)] == [9, 10]


def test_db_holds_sql() -> None:
    """The scan looks at the right files: the queries modules in db/ do hold statements."""
    repo = PACKAGE / "db" / "models_repo.py"
    assert sql_strings(repo.read_text(), str(repo))


def test_no_sql_outside_db() -> None:
    files = _outside_db()
    assert len(files) > 50
    findings = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {text}"
        for path in files
        for line, text in sql_strings(path.read_text(), str(path))
    ]
    assert not findings, "SQL outside ml_prediction_service/db/:\n" + "\n".join(findings)
