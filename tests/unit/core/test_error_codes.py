"""Every error code is a class in livevault.errors, named in its tree, and raised as that class, not a string."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import livevault
from livevault import errors
from livevault.errors import LivevaultError, error_class_for

SRC = Path(livevault.__file__).parent
_LITERAL_CODE = re.compile(r"""(error_code=|code\s*=|code or |error_body\()\s*["'][A-Z][A-Z_]{3,}["']""")


def _all_subclasses(cls: type[LivevaultError]) -> list[type[LivevaultError]]:
    found: list[type[LivevaultError]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_all_subclasses(sub)]
    return found


def test_every_error_class_lives_in_errors_py() -> None:
    for info in pkgutil.walk_packages([str(SRC)], "livevault."):
        if info.name.startswith(("livevault.testsrc", "livevault.db.migrations")):
            continue
        importlib.import_module(info.name)
    outside = sorted(f"{c.__module__}.{c.__qualname__}" for c in _all_subclasses(LivevaultError)
                     if c.__module__ != "livevault.errors" and not c.__module__.startswith("livevault.errors."))
    assert outside == [], "declare these in the livevault/errors/ package"


def test_every_class_is_in_the_tree_and_found_by_its_code() -> None:
    tree = errors.__doc__ or ""
    for cls in _all_subclasses(LivevaultError):
        assert cls.__name__ in tree, f"{cls.__name__} is missing from the tree in livevault/errors/__init__.py"
        assert error_class_for(cls.code).code == cls.code


def test_no_code_is_a_string_literal_outside_errors_py() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.parent == SRC / "errors" or "testsrc" in path.parts:
            continue
        text = path.read_text()
        offenders += [f"{path.relative_to(SRC)}: {m.group(0)}" for m in _LITERAL_CODE.finditer(text)]
        if '__dict__["code"]' in text:
            offenders.append(f"{path.relative_to(SRC)}: __dict__['code']")
    assert offenders == []
