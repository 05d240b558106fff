"""``pdd init``: lay out a pdd project in an existing git repository.

Creates, only where absent (re-running changes nothing that exists):

* ``prompts/_shared/python_style.md`` (the target's style fragment), ``behavior_tests/``, ``generated/__init__.py``;
* ``.pdd/config.yaml`` (commented; see :data:`pdd.config.DEFAULT_CONFIG_TEXT`);
* ``.pdd/.gitignore`` ignoring ``cache/``, ``runs/``, ``backup/``, ``fix/``;
* top-level ``.gitignore`` lines ``__pycache__/`` and ``*.pyc`` (bytecode pytest
  leaves next to generated modules must never be staged);
* a ``.gitattributes`` line ``generated/** linguist-generated=true``;
* git config ``notes.pdd.mergeStrategy=cat_sort_uniq``.

Returns the list of what it created or changed, for the CLI to print.
"""

from __future__ import annotations

from pathlib import Path

from pdd import targets
from pdd.atomicfile import write_atomic
from pdd.config import CONFIG_RELPATH, DEFAULT_CONFIG_TEXT
from pdd.git import run
from pdd.prompt import INIT_TEXT

GITATTRIBUTES_LINE = "generated/** linguist-generated=true"
GITIGNORE_LINES = ("__pycache__/", "*.pyc")
PDD_GITIGNORE = "# pdd: local caches and run records, never committed\ncache/\nruns/\nbackup/\nfix/\n"

NEW_PROJECT_CONFIG = DEFAULT_CONFIG_TEXT.replace(
    "backend: replay\n", "backend: openai\n"
).replace("model: recorded\n", "model: gpt-4.1-mini\n")


def _git_config_get(root: Path, key: str) -> str | None:
    out = run(root, "config", "--local", "--get", key, text=True)
    return out.stdout.strip() if out.returncode == 0 else None


GITHUB_WORKFLOW = """\
# Written by `pdd init --ci github`: generated code must be genuine and fresh.
name: pdd
on: [push, pull_request]
jobs:
  pdd-check:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - name: Fetch the provenance notes (a remote may have none yet)
        run: |
          status=0; git ls-remote --exit-code origin refs/notes/pdd > /dev/null || status=$?
          if [ "$status" = 0 ]; then git fetch origin refs/notes/pdd:refs/notes/pdd
          elif [ "$status" = 2 ]; then echo "origin has no pdd notes yet: pdd check will say what to do"
          else exit "$status"; fi
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install pdd
        # pdd-git is not on the package index yet: pip installs it from its git repository
        run: pip install "{install}"
      - name: pdd check
        run: pdd check --tests --format github
"""


PLACEHOLDER_INSTALL = "git+https://REPLACE-WITH-THE-PDD-REPOSITORY-URL"


def install_source() -> str:
    """What ``pip install`` needs to install this pdd in CI: ``git+URL@COMMIT`` when
    this copy was installed from a git repository (pip's ``direct_url.json``, PEP
    610), else :data:`PLACEHOLDER_INSTALL` for the user to replace (the name
    ``pdd-git`` is reserved for the package index but not published yet)."""
    import json
    from importlib import metadata

    try:
        data = json.loads(metadata.distribution("pdd-git").read_text("direct_url.json") or "{}")
    except (metadata.PackageNotFoundError, ValueError):
        return PLACEHOLDER_INSTALL
    vcs = data.get("vcs_info") or {}
    url = data.get("url") or ""
    if vcs.get("vcs") == "git" and url and not url.startswith("file:"):
        return f"git+{url}@{vcs['commit_id']}" if vcs.get("commit_id") else f"git+{url}"
    return PLACEHOLDER_INSTALL


def init_project(root: Path, *, ci: str | None = None, hooks: bool = True) -> list[str]:
    """Create the pdd layout under ``root`` (a git work tree); return what changed.

    ``ci="github"`` also writes ``.github/workflows/pdd.yml``; ``hooks`` installs
    the pre-commit hook (:mod:`pdd.hookinstall`). Every remote gets the notes fetch
    refspec (:mod:`pdd.notesync`).
    """
    changed: list[str] = []

    def create(rel: str, text: str) -> None:
        path = root / rel
        if not path.exists():
            write_atomic(path, text)
            changed.append(f"created {rel}")

    create(CONFIG_RELPATH, NEW_PROJECT_CONFIG)
    create(".pdd/.gitignore", PDD_GITIGNORE)
    create(f"prompts/{targets.get().STYLE_FRAGMENT}", targets.get().STYLE_TEXT)  # the style fragment
    create(f"generated/{targets.get().PACKAGE_FILE}", INIT_TEXT)
    if not (root / "behavior_tests").exists():
        (root / "behavior_tests").mkdir(parents=True)
        changed.append("created behavior_tests/")
    ignore = root / ".gitignore"
    existing = ignore.read_text(encoding="utf-8") if ignore.exists() else ""
    absent = [line for line in GITIGNORE_LINES if line not in existing.splitlines()]
    if absent:
        sep = "" if not existing or existing.endswith("\n") else "\n"
        write_atomic(ignore, existing + sep + "".join(line + "\n" for line in absent))
        changed.append(f"added {', '.join(absent)} to .gitignore")
    attrs = root / ".gitattributes"
    existing = attrs.read_text(encoding="utf-8") if attrs.exists() else ""
    if GITATTRIBUTES_LINE not in existing.splitlines():
        sep = "" if not existing or existing.endswith("\n") else "\n"
        write_atomic(attrs, existing + sep + GITATTRIBUTES_LINE + "\n")
        changed.append("added generated/** linguist-generated to .gitattributes")
    if _git_config_get(root, "notes.pdd.mergeStrategy") is None:
        run(root, "config", "--local", "notes.pdd.mergeStrategy", "cat_sort_uniq", check=True)
        changed.append("set git config notes.pdd.mergeStrategy=cat_sort_uniq")
    from pdd.notesync import configure_remote, remotes
    from pdd.provenance.record import tracking_ref

    for remote in remotes(root):
        if configure_remote(root, remote):
            changed.append(f"configured `git fetch {remote}` to bring its notes into {tracking_ref(remote)}")
    if ci == "github":
        create(".github/workflows/pdd.yml", GITHUB_WORKFLOW.replace("{install}", install_source()))
    if hooks:
        from pdd.hookinstall import install

        changed.extend(line for line in install(root) if "already installed" not in line)
    return changed
