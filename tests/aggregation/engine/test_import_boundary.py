"""aggregation/engine/ is pure Python: importing it loads no Django (STYLE.md rule 5)."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ENGINE = ROOT / "aggregation" / "engine"
MODULES = [
    "aggregation.engine",
    "aggregation.engine.data",
    "aggregation.engine.pooling",
    "aggregation.engine.hierarchical",
    "aggregation.engine.summary",
    "aggregation.engine.cooke",
    "aggregation.engine.excalibur",
    "aggregation.engine.synthetic",
    "aggregation.engine.likelihood",
    "aggregation.engine.rounds",
    "aggregation.engine.scoring",
    "aggregation.engine.recalibration",
    "aggregation.engine.evaluation",
]


def django_loaded_by(modules: list[str]) -> list[str]:
    """The Django modules that importing ``modules`` loads, in a fresh interpreter: this
    test process has Django loaded already (pytest-django)."""
    code = (
        "import json, sys\n"
        + "".join(f"import {module}\n" for module in modules)
        + "print(json.dumps(sorted(m for m in sys.modules if m == 'django' "
        "or m.startswith('django.'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_importing_the_engine_loads_no_django():
    assert django_loaded_by(MODULES) == []


def django_imports(source: str) -> list[str]:
    """Every import of django in a module's source, at any depth (functions included)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "django"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "django":
            found.append(node.module)
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and node.args[0].value.split(".")[0] == "django"
        ):
            found.append(node.args[0].value)  # importlib.import_module("django...")
    return found


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import django", ["django"]),
        ("from django.conf import settings", ["django.conf"]),
        ("def f():\n    from django.db import models\n", ["django.db"]),
        ("import os, django.utils.timezone as tz", ["django.utils.timezone"]),
        ("import importlib\nimportlib.import_module('django.apps')", ["django.apps"]),
        ("import djangorestframework_like  # not django", []),
        ("x = 'django is mentioned in a string'", []),
    ],
)
def test_the_static_check_sees_every_form_of_import(source, expected):
    assert django_imports(source) == expected


def test_no_engine_file_imports_django():
    files = sorted(ENGINE.rglob("*.py"))
    assert len(files) >= len(MODULES)
    offenders = {
        str(path.relative_to(ROOT)): imports
        for path in files
        if (imports := django_imports(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}
