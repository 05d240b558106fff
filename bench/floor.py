"""The floor of a pdd command over a repository, measured by the benches themselves.

The floor (issue 12) is the unavoidable work of a check: a Python interpreter's
start-up plus the git plumbing calls that read what is staged (or changed), the index
(``git ls-files -s`` of the folders involved), the notes tree (``git ls-tree -r``) and
the blobs needed (one ``git cat-file --batch``). :data:`FLOOR_SCRIPT` is run with the
interpreter under test (``python -c``), so the floor is timed the same way as the
command: wall time of one process, start to exit.

Used by ``bench_hook.py`` (the hook, ``pdd check``) and ``bench_build.py`` (the no-op
build).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Sequence

NOTES_REF = "refs/notes/pdd"

# argv: MODE OBJECTS_FILE FOLDER...; MODE "staged" (the hook: what is staged, then the index
# of the folders, then the blobs and notes by name) or "tree" (check, no-op build: what the
# working tree changed, the index of the folders, the whole notes tree, then the blobs).
FLOOR_SCRIPT = r"""
import subprocess, sys
mode, objects, *folders = sys.argv[1:]
def git(*args, input=None):
    return subprocess.run(["git", *args], input=input, capture_output=True, check=True).stdout
if mode == "staged":
    git("diff-index", "--cached", "--name-status", "-z", "--no-renames", "HEAD")
else:
    git("diff-files", "--name-only", "-z")
git("ls-files", "-s", "-z", "--", *folders)
if mode == "tree":
    git("ls-tree", "-r", "-z", "refs/notes/pdd")
with open(objects, "rb") as fh:
    git("cat-file", "--batch", input=fh.read())
"""


def _git(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, check=True).stdout


def note_ids(repo: Path) -> Dict[str, str]:
    """{annotated blob id: note blob id} of :data:`NOTES_REF` (one ``ls-tree -r``)."""
    out: Dict[str, str] = {}
    for rec in _git(repo, "ls-tree", "-r", "-z", NOTES_REF).split(b"\0"):
        meta, _, path = rec.partition(b"\t")
        parts = meta.split()
        if len(parts) == 3:
            out[path.replace(b"/", b"").decode()] = parts[2].decode()
    return out


def index_ids(repo: Path, folders: Sequence[str]) -> Dict[str, str]:
    """{path: blob id} of the index under ``folders`` (one ``ls-files -s``)."""
    out: Dict[str, str] = {}
    for rec in _git(repo, "ls-files", "-s", "-z", "--", *folders).split(b"\0"):
        meta, _, path = rec.partition(b"\t")
        if path:
            out[path.decode()] = meta.split()[1].decode()
    return out


def tree_objects(repo: Path, prompts_dir: str = "prompts", generated_dir: str = "generated") -> List[str]:
    """The blobs a whole-project check reads: every prompt and every generated file's notes."""
    index = index_ids(repo, [prompts_dir, generated_dir])
    notes = note_ids(repo)
    prompts = [b for p, b in index.items() if p.startswith(prompts_dir + "/")]
    return prompts + [notes[b] for p, b in index.items() if p.startswith(generated_dir + "/") and b in notes]


def staged_objects(repo: Path, modules: Sequence[str], prompts_dir: str = "prompts",
                   generated_dir: str = "generated", suffix: str = ".py") -> List[str]:
    """The blobs the hook reads for staged ``modules``: each prompt (by index path) and the
    note of each staged output (by its path in the 2/38 fanout notes tree)."""
    index = index_ids(repo, sorted({f"{generated_dir}/{m.rsplit('/', 1)[0]}" for m in modules}))
    objs = [f":{prompts_dir}/{m}.prompt" for m in modules]
    for m in modules:
        blob = index[f"{generated_dir}/{m}{suffix}"]
        objs.append(f"{NOTES_REF}:{blob[:2]}/{blob[2:]}")
    return objs


def floor_seconds(python: str, repo: Path, mode: str, objects: List[str], folders: Sequence[str],
                  runs: int, wall: Callable[[List[str], Path], float]) -> List[float]:
    """Wall times (s) of ``runs`` runs of :data:`FLOOR_SCRIPT` in ``repo`` with
    ``python``; ``mode`` ``staged`` or ``tree``; ``objects``: the ``cat-file --batch``
    input names; ``wall(argv, cwd)`` times one process (the bench's own timer)."""
    fd, path = tempfile.mkstemp(prefix="pdd-floor-", suffix=".txt")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write("".join(o + "\n" for o in objects))
        return [wall([python, "-c", FLOOR_SCRIPT, mode, path, *folders], repo) for _ in range(runs)]
    finally:
        os.unlink(path)


def ratio_line(label: str, times: List[float], floor: List[float], target: float, unit: str = "ms") -> tuple[str, bool]:
    """``(line, met)``: the median of ``times`` beside the median ``floor``, their ratio,
    and whether the ratio is at most ``target``."""
    med, fl = statistics.median(times), statistics.median(floor)
    scale = 1000 if unit == "ms" else 1
    ratio = med / fl if fl else float("inf")
    ok = ratio <= target
    return (f"{label:<38} {med * scale:8.1f} {unit}  floor {fl * scale:8.1f} {unit}  ratio {ratio:4.2f}x  "
            f"target <= {target:g}x: {'PASS' if ok else 'MISS'}", ok)

