"""Stamp the course's shared cells into notebooks: the header (title, Colab badge, previous/next
and exercise links), the setup cell (first code cell), and a footer with the same links.

The repository URL and the version the Colab setup cell installs come from
``llmcourse.course.REPO_URL`` and ``REF``: ``--repo URL --ref REF`` rewrites both there and restamps
every notebook and the README's table in one go (how a fork points the course at itself). Stamped cells carry the tags ``llmcourse-header``,
``llmcourse-setup`` and ``llmcourse-footer``; the tool rewrites those cells and never touches
others. Running it twice changes nothing.

    python tools/stamp_notebooks.py                 # every notebook in notebooks/, exercises/, solutions/
    python tools/stamp_notebooks.py notebooks/10_causal_masking.ipynb
    python tools/stamp_notebooks.py --check         # exit 1 if a notebook is not stamped
    python tools/stamp_notebooks.py --readme        # rewrite README.md's lesson table only
    python tools/stamp_notebooks.py --repo https://github.com/you/llmcourse --ref v0.1.0   # a fork
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nbformat  # noqa: E402

from tools.nbutil import (FOOTER_TAG, HEADER_TAG, REPO, SETUP_TAG, find_tagged, footer_source,  # noqa: E402
                          header_source, kind_of, read, setup_source, write)


def _set(nb, tag: str, cell_type: str, source: str, index: int) -> None:
    """Update the cell tagged ``tag`` (its id kept), or insert a new one at ``index``."""
    i = find_tagged(nb, tag)
    if i is not None and nb.cells[i].cell_type == cell_type:
        nb.cells[i].source = source
        return
    if i is not None:  # same tag on a cell of the wrong type: replace it
        nb.cells.pop(i)
    new = (nbformat.v4.new_markdown_cell if cell_type == "markdown" else nbformat.v4.new_code_cell)(source)
    new.metadata["tags"] = [tag]
    new["id"] = tag.replace("llmcourse-", "")
    if any(c.get("id") == new["id"] for c in nb.cells):
        del new["id"]  # clean() gives it a fresh, stable id
    nb.cells.insert(min(index, len(nb.cells)), new)


def stamp(nb, kind: str, les) -> nbformat.NotebookNode:
    """Stamp header, setup and footer into ``nb`` (in place) for a ``kind`` notebook of ``les``."""
    from tools.nbutil import clean

    _set(nb, HEADER_TAG, "markdown", header_source(kind, les), 0)
    if find_tagged(nb, HEADER_TAG) != 0:  # the header is always the first cell
        nb.cells.insert(0, nb.cells.pop(find_tagged(nb, HEADER_TAG)))
    _set(nb, SETUP_TAG, "code", setup_source(kind), 1)  # new: right after the header
    i = find_tagged(nb, SETUP_TAG)
    first_code = next(j for j, c in enumerate(nb.cells) if c.cell_type == "code")
    if i != first_code:  # the setup cell is always the first code cell
        nb.cells.insert(1, nb.cells.pop(i))
    _set(nb, FOOTER_TAG, "markdown", footer_source(kind, les), len(nb.cells))
    j = find_tagged(nb, FOOTER_TAG)
    if j != len(nb.cells) - 1:  # the footer is always the last cell
        nb.cells.append(nb.cells.pop(j))
    keep = any(c.cell_type == "code" and c.get("outputs") for c in nb.cells)
    return clean(nb, Path(les.notebook).name, keep_outputs=keep)


def course_notebooks() -> list[Path]:
    return sorted(p for d in ("notebooks", "solutions", "exercises") for p in (REPO / d).glob("*.ipynb"))


README_START, README_END = "<!-- lessons -->", "<!-- /lessons -->"


CLONE = re.compile(r"git clone https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?\.git && cd [A-Za-z0-9_.-]+")


def stamp_readme(readme: Path = REPO / "README.md") -> bool:
    """Write ``course.readme_table()`` between the README's lesson markers and ``course.REPO_URL``
    into its ``git clone`` line; True if the file changed."""
    from llmcourse import course

    text = readme.read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        raise SystemExit(f"{readme}: add the markers {README_START} and {README_END} where the table goes.")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    new = f"{head}{README_START}\n{course.readme_table()}\n{README_END}{tail}"
    name = course.REPO_URL.rstrip("/").rsplit("/", 1)[-1]
    new = CLONE.sub(f"git clone {course.REPO_URL}.git && cd {name}", new)
    if new != text:
        readme.write_text(new, encoding="utf-8")
    return new != text


COURSE_PY = REPO / "llmcourse" / "course.py"
GITHUB_REPO = re.compile(r"https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
GIT_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9_./-]*")


def set_address(repo: str, ref: str, course_py: Path | None = None) -> None:
    """Write ``REPO_URL = repo`` and ``REF = ref`` into ``llmcourse/course.py`` (or ``course_py``)
    and into the loaded course table, so that the stamping that follows uses them."""
    from llmcourse import course

    course_py = course_py or COURSE_PY
    text = course_py.read_text(encoding="utf-8")
    for name, value in (("REPO_URL", repo), ("REF", ref)):
        text, n = re.subn(rf'^{name} = ".*"$', f'{name} = "{value}"', text, count=1, flags=re.M)
        if n != 1:
            raise SystemExit(f"{course_py}: no line '{name} = \"...\"' to rewrite.")
    course_py.write_text(text, encoding="utf-8")
    course.REPO_URL, course.REF = repo, ref


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", help="notebooks (default: all course notebooks)")
    ap.add_argument("--check", action="store_true", help="only report notebooks that would change")
    ap.add_argument("--readme", action="store_true", help="rewrite README.md's lesson table and stop")
    ap.add_argument("--repo", help="the GitHub address of the course, https://github.com/OWNER/NAME "
                                   "(written to llmcourse/course.py; needs --ref)")
    ap.add_argument("--ref", help="the tag, commit or branch of --repo that the Colab setup cell installs")
    args = ap.parse_args(argv)
    if (args.repo is None) != (args.ref is None):
        ap.error("give --repo and --ref together, e.g. --repo https://github.com/you/llmcourse --ref v0.1.0")
    if args.repo is not None:
        if not GITHUB_REPO.fullmatch(args.repo.rstrip("/")):
            ap.error(f"--repo {args.repo!r}: expected a GitHub address, https://github.com/OWNER/NAME")
        if not GIT_REF.fullmatch(args.ref) or ".." in args.ref:
            ap.error(f"--ref {args.ref!r}: expected a git tag, commit or branch name, e.g. v0.1.0")
        if args.paths or args.check or args.readme:
            ap.error("--repo and --ref restamp every notebook and the README: give no paths, --check or --readme")
        set_address(args.repo.rstrip("/"), args.ref)
        print(f"llmcourse/course.py: REPO_URL = {args.repo.rstrip('/')}, REF = {args.ref}")
        print("README.md: lesson table " + ("rewritten" if stamp_readme() else "already current"))
    if args.readme:
        print("README.md: lesson table " + ("rewritten" if stamp_readme() else "already current"))
        return 0
    paths = [Path(p) for p in args.paths] or course_notebooks()
    stale = []
    for path in paths:
        kind, les = kind_of(path)
        nb = stamp(read(path), kind, les)
        if args.check:
            from tools.nbutil import dumps

            if dumps(nb) != path.read_text(encoding="utf-8"):
                stale.append(path)
        elif write(nb, path):
            print(f"stamped {path}")
    for p in stale:
        print(f"not stamped: {p} (run python tools/stamp_notebooks.py {p})")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
