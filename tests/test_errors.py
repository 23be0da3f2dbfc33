"""The one list of errors (cpp/include/qcss/ErrorList.h): every C++ class is
raised in Python as its own class of qcss.errors, with the listed bases."""

from __future__ import annotations

import ast
import builtins
import pickle
from pathlib import Path

import pytest

import qcss
from qcss import _qcss, errors

ERROR_LIST: list[tuple[str, str, str]] = list(_qcss._errorList)
NAMES = [name for name, _, _ in ERROR_LIST]


def test_the_list_names_every_class_of_errors_py_once() -> None:
    assert len(NAMES) == len(set(NAMES))
    assert sorted([*NAMES, "CssError"]) == sorted(errors.__all__)
    defined = sorted(
        node.name
        for node in ast.parse(Path(errors.__file__).read_text()).body
        if isinstance(node, ast.ClassDef)
    )
    assert defined == sorted(errors.__all__)


def test_the_package_reexports_every_error() -> None:
    for name in errors.__all__:
        assert name in qcss.__all__
        assert getattr(qcss, name) is getattr(errors, name)


@pytest.mark.parametrize(("name", "parent", "builtin"), ERROR_LIST, ids=NAMES)
def test_each_cpp_error_becomes_its_own_python_class(name: str, parent: str, builtin: str) -> None:
    cls = getattr(errors, name)
    also = () if builtin == "none" else (getattr(builtins, builtin),)
    expected = (getattr(errors, parent), *also)
    assert cls.__bases__ == expected
    with pytest.raises(errors.CssError) as info:
        _qcss._raiseError(name, f"message of {name}")
    assert type(info.value) is cls
    assert str(info.value) == f"message of {name}"


def test_the_root_and_compacted_error_keep_their_data() -> None:
    with pytest.raises(errors.CssError) as info:
        _qcss._raiseError("CssError", "root")
    assert type(info.value) is errors.CssError
    with pytest.raises(errors.CompactedError) as compacted:
        _qcss._raiseError("CompactedError", "gone")
    assert compacted.value.oldestAvailable == 7
    copy = pickle.loads(pickle.dumps(compacted.value))
    assert (str(copy), copy.oldestAvailable) == ("gone", 7)


def test_an_unknown_name_is_refused() -> None:
    with pytest.raises(ValueError, match="no error class Nope"):
        _qcss._raiseError("Nope", "x")
