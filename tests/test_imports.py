"""The package's import graph: no module imports one that imports it back, and the old import
paths (``llmcourse.tokenizer``, ``llmcourse.bpe``, ``llmcourse.viz_common``, ...) still work.

The graph is read from the source, not from ``sys.modules``: every ``import`` / ``from ... import``
statement of every module under ``llmcourse/`` is an edge, wherever it sits. An import inside a
function counts too: it runs on the first call, and a cycle there is still two modules that each
need the other (a lazy import hides a cycle, it does not remove it). Not counted:

* the implicit import of a parent package (``import llmcourse.viz.common`` runs
  ``llmcourse/viz/__init__.py`` first); a package's ``__init__`` re-exporting its own modules
  is not a cycle;
* imports under ``if TYPE_CHECKING:`` (they never run);
* ``importlib.import_module`` calls (``llmcourse/__init__.py`` loads its submodules lazily by name).

``ALLOWED`` lists the edges that may still close a cycle, each with its reason.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import llmcourse

ROOT = Path(llmcourse.__file__).resolve().parent

#: (importer, imported) -> why this edge may close a cycle for now.
ALLOWED: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _nodes(tree):
    """Every node of ``tree`` except the bodies of ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _target(name: str) -> str | None:
    """The llmcourse module ``name`` refers to (its longest known prefix), or None."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(name: str, source: str | None = None) -> set[str]:
    """The llmcourse modules that module ``name`` imports (see the module docstring for the rules)."""
    path = MODULES.get(name)
    tree = ast.parse(source if source is not None else path.read_text(encoding="utf-8"))
    package = name if path is not None and path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in _nodes(tree):
        if isinstance(node, ast.Import):
            bases = [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            bases = [(base, [alias.name for alias in node.names])]
        else:
            continue
        for base, names in bases:
            if not base.startswith("llmcourse"):
                continue
            # ``from pkg import mod`` imports the module pkg.mod; ``from mod import name`` imports mod
            subs = [f"{base}.{n}" for n in names if f"{base}.{n}" in MODULES]
            for t in subs or [_target(base)]:
                if t is not None and t != name:
                    out.add(t)
    return out


def graph() -> dict[str, set[str]]:
    return {name: imports_of(name) for name in MODULES}


def find_cycle(edges: dict[str, set[str]], allowed=()) -> list[str] | None:
    """One cycle of ``edges`` (a list of modules, first == last) that avoids the ``allowed``
    edges, or None."""
    allowed = set(allowed)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(u):
        state[u] = 1
        path.append(u)
        for v in sorted(edges.get(u, ())):
            if (u, v) in allowed:
                continue
            if state.get(v) == 1:
                return path[path.index(v):] + [v]
            if v not in state:
                found = visit(v)
                if found:
                    return found
        path.pop()
        state[u] = 2
        return None

    for u in sorted(edges):
        if u not in state:
            found = visit(u)
            if found:
                return found
    return None


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(graph(), ALLOWED)
    assert cycle is None, ("import cycle: " + " -> ".join(cycle) + ". Move what both modules need into a "
                           "third module, or pass it in as an argument.")


def test_allowed_edges_exist_and_say_why():
    edges = graph()
    for (a, b), why in ALLOWED.items():
        assert b in edges[a], f"{a} no longer imports {b}: remove the entry from ALLOWED"
        assert len(why) > 40


TRAINING_ALIASES = {"llmcourse.train": "loop", "llmcourse.train_fast": "speed", "llmcourse.train_cli": "cli",
                    "llmcourse.optim": "optim", "llmcourse.checkpoint": "checkpoint",
                    "llmcourse.distributed": "distributed"}


@pytest.mark.parametrize("old", sorted(TRAINING_ALIASES))
def test_old_training_paths_are_the_new_modules(old):
    """``import llmcourse.train`` gives ``llmcourse.training.loop`` itself (so patches reach it)."""
    assert importlib.import_module(old) is importlib.import_module(f"llmcourse.training.{TRAINING_ALIASES[old]}")


def test_old_train_config_path_keeps_its_names():
    import llmcourse.train_config as old
    from llmcourse import training

    assert old.TrainConfig is training.TrainConfig and old.PRESETS is training.PRESETS
    assert old.get_preset is training.get_preset


def test_the_graph_reader_sees_every_kind_of_import():
    # the reader must see each of these forms, or a cycle could hide behind it
    src = """
import llmcourse.model
from . import attention
from .viz import figures
from .data import load_corpus
from llmcourse.tokenizers import CharTokenizer
import torch
def later():
    from .hf import config_from_hf
if TYPE_CHECKING:
    from .train import Trainer
"""
    assert imports_of("llmcourse.pretrained", src) == {
        "llmcourse.model", "llmcourse.attention", "llmcourse.viz.figures", "llmcourse.data",
        "llmcourse.tokenizers", "llmcourse.hf"}
    src = "from ..viz import probability_bars\nfrom .._checks import describe\nfrom ._base import Explorer\n"
    assert imports_of("llmcourse.widgets.sampler", src) == {"llmcourse.viz", "llmcourse._checks",
                                                            "llmcourse.widgets._base"}
    # a package's __init__ resolves "." to itself
    assert imports_of("llmcourse.viz", "from .loss import loss_curve\n") == {"llmcourse.viz.loss"}


def test_find_cycle_finds_lazy_and_long_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"a"}}, allowed={("b", "a")}) is None
    # the hf <-> model pair as it was: model imported hf inside GPT.from_hf_gpt2
    old_model = "class GPT:\n    def from_hf_gpt2(cls, m):\n        from .hf import from_hf_gpt2\n"
    old_hf = "from .model import GPT, GPTConfig\n"
    edges = {"llmcourse.model": imports_of("llmcourse.model", old_model),
             "llmcourse.hf": imports_of("llmcourse.hf", old_hf)}
    assert find_cycle(edges) == ["llmcourse.hf", "llmcourse.model", "llmcourse.hf"]


# ---- old import paths ---------------------------------------------------------------------------

OLD_PATHS = {
    "llmcourse.tokenizer": ["CharTokenizer", "BPETokenizer", "load", "bpe_walkthrough", "BPEWalkthrough",
                            "count_pairs", "merge_pair", "split_chunks", "GPT2_PATTERN", "ENDOFTEXT"],
    "llmcourse.bpe": ["BPETokenizer", "ENDOFTEXT"],
    "llmcourse.tokenizer_core": ["GPT2_PATTERN", "compile_pattern", "count_chunks", "learn_merges",
                                 "merge_piece", "split_chunks"],
    "llmcourse.tokenizer_walkthrough": ["bpe_walkthrough", "BPEWalkthrough", "count_pairs", "merge_pair"],
    "llmcourse.viz": ["heatmap", "attention_heatmap", "positional_heatmap", "pca_2d", "embedding_scatter",
                      "probability_bars", "loss_curve", "LiveLossPlot", "token_label", "token_labels",
                      "new_figure", "figure_to_png", "BLUE", "GREY", "ORANGE", "PALETTE", "get_ax",
                      "in_notebook", "to_numpy"],
    "llmcourse.viz_common": ["BLUE", "ORANGE", "SKY", "GREEN", "VERMILLION", "PURPLE", "YELLOW", "GREY",
                             "PALETTE", "MAX_DPI", "DEFAULT_DPI", "WIDGET_DPI", "new_figure", "figure_to_png",
                             "get_ax", "token_label", "token_labels", "to_numpy", "in_notebook"],
    "llmcourse.viz_loss": ["LiveLossPlot", "loss_curve", "loss_series"],
}
NEW_HOMES = {"CharTokenizer": "llmcourse.tokenizers.char", "BPETokenizer": "llmcourse.tokenizers.bpe",
             "bpe_walkthrough": "llmcourse.tokenizers.walkthrough", "learn_merges": "llmcourse.tokenizers.bpe",
             "heatmap": "llmcourse.viz.figures", "LiveLossPlot": "llmcourse.viz.loss",
             "new_figure": "llmcourse.viz.common"}


@pytest.mark.parametrize("old", sorted(OLD_PATHS))
def test_old_import_paths_give_the_same_objects(old):
    module = importlib.import_module(old)
    for name in OLD_PATHS[old]:
        obj = getattr(module, name)
        if name in NEW_HOMES:
            assert obj is getattr(importlib.import_module(NEW_HOMES[name]), name)


def test_public_names_of_the_package_come_from_the_new_homes():
    assert llmcourse.CharTokenizer.__module__ == "llmcourse.tokenizers.char"
    assert llmcourse.BPETokenizer.__module__ == "llmcourse.tokenizers.bpe"
    assert llmcourse.GPT.from_hf_gpt2.__qualname__ == "GPT.from_hf_gpt2"
