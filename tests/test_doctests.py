"""Run the docstring examples of every package module: the worked examples must stay true, and
every public module must have at least one that actually runs."""

import doctest
import importlib
import pkgutil

import pytest

import llmcourse

MODULES = ["llmcourse"] + sorted(
    m.name for m in pkgutil.walk_packages(llmcourse.__path__, prefix="llmcourse.")
    if not m.name.endswith("__main__")
)

#: Modules allowed to have no example, each with the reason. A private module (``_name``) needs no
#: example either.
NO_EXAMPLES = {
    # old import paths: they only re-export names whose examples live in the new homes
    "llmcourse.tokenizer": "re-exports llmcourse.tokenizers",
    "llmcourse.bpe": "re-exports llmcourse.tokenizers.bpe",
    "llmcourse.tokenizer_core": "re-exports llmcourse.tokenizers.bpe",
    "llmcourse.tokenizer_walkthrough": "re-exports llmcourse.tokenizers.walkthrough",
    "llmcourse.viz_common": "re-exports llmcourse.viz.common",
    "llmcourse.viz_loss": "re-exports llmcourse.viz.loss",
    "llmcourse.train_config": "re-exports llmcourse.training.config and llmcourse.training.presets",
    # command lines and runners: their tests start processes and kernels
    "llmcourse.training.cli": "the training command line; tests/test_cli.py runs it",
    "llmcourse.grading.cli": "the grading command line; tests/test_grading_cli.py runs it",
    "llmcourse.grading.runner": "runs whole notebooks in a kernel; tests/test_grading_cli.py",
    "llmcourse.grading.lessons": "a folder of per-lesson modules, each with its own examples",
}


def _private(name: str) -> bool:
    return any(part.startswith("_") for part in name.split("."))


def test_every_module_is_collected():
    assert len(MODULES) > 50, MODULES  # the walk really found the package
    assert "llmcourse.tokenizers.bpe" in MODULES and "llmcourse.viz.figures" in MODULES
    assert set(NO_EXAMPLES) <= set(MODULES), set(NO_EXAMPLES) - set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_module_doctests(name):
    module = importlib.import_module(name)
    if module.__name__ != name:  # an old import path that is the new module itself (llmcourse.train)
        assert module.__name__.startswith("llmcourse.training."), (name, module.__name__)
        return  # its examples run under the new name
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
    if name in NO_EXAMPLES:
        assert result.attempted == 0, (f"{name} now has examples: remove it from NO_EXAMPLES "
                                       f"({NO_EXAMPLES[name]!r})")
    elif not _private(name):
        assert result.attempted > 0, (f"{name} has no docstring example: add a tiny worked example "
                                      f"(>>> ...) to its module or a public function's docstring")
