"""Check, without a GPU, that course notebooks keep their tensors on one device.

``device = setup()`` (the setup cell) is a GPU where there is one. Two rules, read from the code
cells' syntax (nothing is executed, so this is a lint: it catches the known ways to mix devices,
not every possible one):

1. **A lesson that trains uses ``device``.** Every ``Trainer(...)`` call passes ``device=``. Every
   hand-written training loop (a loop that calls ``.backward()`` and ``.step()``) sits in a
   function or cell that moves its model with ``.to(device)`` and, where it draws batches with
   ``BatchSampler(...)``, passes ``device=`` to every sampler there.
2. **Nothing new is made on the CPU next to a model left on the device.** Once a cell keeps a
   trained model (``model = result.model`` or ``trainer.model``), every later tensor factory
   (``torch.tensor``, ``torch.zeros``, ``torch.randint``, ...) and model loader (``load_file``,
   ``pretrained.load``) names its device with ``device=``; a tensor meant for the CPU says
   ``device="cpu"``.

    python tools/check_devices.py            # all course notebooks; exit 1 on problems
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.nbutil import REPO, read  # noqa: E402

FACTORIES = {"tensor", "as_tensor", "zeros", "ones", "full", "empty", "arange", "linspace",
             "rand", "randn", "randint", "randperm", "eye"}
LOADERS = {"load_file", "load", "model_from_state"}


def _parse(source: str) -> ast.Module:
    lines = [line[:len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!")) else line
             for line in source.splitlines()]  # IPython magics and shell lines: not Python
    return ast.parse("\n".join(lines))


def _name(func: ast.expr) -> str:
    """``torch.zeros`` -> ``"zeros"``, ``Trainer`` -> ``"Trainer"``."""
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _calls(node) -> list[ast.Call]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Call)]


def _has_kw(call: ast.Call, kw: str) -> bool:
    return any(k.arg == kw or k.arg is None for k in call.keywords)  # **kwargs may carry it


def _moves_to_device(scope) -> bool:
    return any(_name(c.func) == "to" and c.args and isinstance(c.args[0], ast.Name) and c.args[0].id == "device"
               for c in _calls(scope))


def _is_factory(call: ast.Call) -> bool:
    f = call.func
    return isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "torch" \
        and f.attr in FACTORIES


def _is_loader(call: ast.Call) -> bool:
    f = call.func
    if isinstance(f, ast.Name):
        return f.id in ("load_file", "model_from_state")
    return isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "pretrained" \
        and f.attr in LOADERS


def _keeps_trained_model(tree) -> bool:
    """``x = result.model`` / ``x = trainer.model``: a model trained on the device stays there."""
    return any(isinstance(n, ast.Assign) and isinstance(n.value, ast.Attribute) and n.value.attr == "model"
               for n in ast.walk(tree))


def _training_loops(tree) -> list[tuple[ast.AST, ast.AST]]:
    """(loop, scope) pairs: loops that call ``.backward()`` and ``.step()``, with the function
    that holds them (or the whole cell)."""
    found = []

    def visit(node, scope):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, child)
                continue
            if isinstance(child, (ast.For, ast.While)):
                names = {_name(c.func) for c in _calls(child)}
                if {"backward", "step"} <= names:
                    found.append((child, scope))
                    continue
            visit(child, scope)

    visit(tree, tree)
    return found


def device_problems(path, lesson: bool | None = None) -> list[str]:
    """The problems of the notebook at ``path`` under the two rules (``[]`` when it is clean).
    Rule 1 applies to lessons (``notebooks/``) only, unless ``lesson`` says otherwise."""
    path = Path(path)
    if lesson is None:
        lesson = path.parent.name == "notebooks"
    nb = read(path)
    problems = []
    kept = None  # the cell that keeps a trained model on the device
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        try:
            tree = _parse(cell.source)
        except SyntaxError as err:
            problems.append(f"cell {i}: cannot parse ({err.msg}, line {err.lineno})")
            continue
        where = f"cell {i}"
        if lesson:
            for call in _calls(tree):
                if _name(call.func) == "Trainer" and not _has_kw(call, "device"):
                    problems.append(f"{where}: Trainer(...) without device=: train on setup()'s device "
                                    f"(device=str(device))")
            for loop, scope in _training_loops(tree):
                if not _moves_to_device(scope):
                    problems.append(f"{where}, line {loop.lineno}: a training loop whose model is never "
                                    f"moved with .to(device)")
                for call in _calls(scope):
                    if _name(call.func) == "BatchSampler" and not _has_kw(call, "device"):
                        problems.append(f"{where}, line {call.lineno}: BatchSampler(...) next to a training "
                                        f"loop without device=device")
        if kept is None and _keeps_trained_model(tree):
            kept = i
        if kept is not None:
            for call in _calls(tree):
                if (_is_factory(call) or _is_loader(call)) and not _has_kw(call, "device"):
                    what = ast.unparse(call.func)
                    problems.append(f"{where}, line {call.lineno}: {what}(...) without device= after cell "
                                    f"{kept} keeps a trained model on the device (add device=device, or "
                                    f"device=\"cpu\" for a tensor meant for the CPU)")
    return problems


def course_notebooks() -> list[Path]:
    return sorted(p for d in ("notebooks", "solutions", "exercises") for p in (REPO / d).glob("*.ipynb"))


def main(argv=None) -> int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])] or course_notebooks()
    bad = 0
    for path in paths:
        for problem in device_problems(path):
            bad += 1
            print(f"{path}: {problem}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
