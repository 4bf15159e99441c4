"""Run the docstring examples of every package module: the worked examples must stay true."""

import doctest
import importlib
import pkgutil

import pytest

import llmcourse

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(llmcourse.__path__, prefix="llmcourse.")
    if not m.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_module_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
