"""Command line: ``python -m llmcourse <command> ...``.

Commands: ``train``, ``generate`` (lesson 20), ``grade``, ``progress`` (exercises).
Each command lives in the module that owns its concept and parses its own arguments.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "train": ("llmcourse.training.cli", "cli_train", "train a GPT on the bundled corpus"),
    "generate": ("llmcourse.training.cli", "cli_generate", "generate text from a checkpoint"),
    "grade": ("llmcourse.grading.cli", "cli_grade", "execute exercise notebooks and print scores"),
    "progress": ("llmcourse.grading.cli", "cli_progress", "show the exercises you have passed"),
}


def usage() -> str:
    lines = ["usage: python -m llmcourse <command> [options]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, _, help_) in COMMANDS.items()]
    lines.append("\nRun 'python -m llmcourse <command> --help' for a command's options.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"unknown command {name!r}.\n\n{usage()}", file=sys.stderr)
        return 2
    module, func, _ = COMMANDS[name]
    return int(getattr(importlib.import_module(module), func)(rest) or 0)


if __name__ == "__main__":
    code = main()
    if "torch.distributed" in sys.modules:  # a command that may have joined a process group
        from .training.distributed import end_torchrun_process

        end_torchrun_process(code)  # returns only when not started by torchrun
    sys.exit(code)
