"""Confinement of model-written code: every run of it goes through a :class:`Sandbox`.

pdd's job is to run code a model wrote (behavior tests in build, fix, check,
probe; lint's test collection). That code is untrusted (product contract, "Model-written
code is untrusted"). On Linux it runs under **bubblewrap** (``bwrap``, the
sandbox Flatpak uses; https://github.com/containers/bubblewrap):

* the whole filesystem read-only (``--ro-bind / /``), so the repository, the
  prompts and the Python installation cannot be changed;
* the places where secrets and other programs' sockets live hidden behind empty
  folders (:func:`hidden_folders`: ``/tmp``, ``$HOME``, ``/home``, ``/root``,
  ``/run``, ``/var/run``, ``/mnt``, ``/media``): SSH, cloud and package-index
  credentials, D-Bus and Docker sockets are out of reach. The repository, the
  Python installation, ``sys.path``/``PYTHONPATH`` entries and pdd itself are
  bound back read-only where they live under one of them;
* every capability dropped (``--cap-drop ALL``): code started by root cannot
  remount the read-only tree read-write or make device nodes;
* only the ``writable`` folders (the candidate overlay, the scratch folder) bound
  read-write;
* no network (``--unshare-net``: only a loopback interface of its own);
* a new PID namespace (``--unshare-pid``) with its own ``/proc``, so pdd's
  ``/proc/<pid>/environ`` (the API key) is invisible;
* ``--die-with-parent`` and ``--new-session``: nothing outlives pdd, and the code
  cannot push characters into pdd's terminal (TIOCSTI);
* ``HOME`` and ``TMPDIR`` pointing into the private ``/tmp``; the environment is
  :func:`clean_env`: an allow-list (:data:`PASSED_ENV`, :data:`PASSED_ENV_PREFIXES`
  and the project's ``tests.pass_env``), never a credential-like name
  (:func:`pdd.redact.is_credential_name`).

Settings (``tests.sandbox`` in ``.pdd/config.yaml``): ``auto`` (default) confines
with bwrap where it is installed and can create namespaces; elsewhere pdd warns
once per process with the install command and runs unconfined. ``bwrap``
requires it: missing or unusable is exit 2 (:class:`pdd.errors.UsageError`).
``none`` is the explicit opt-out. macOS ``sandbox-exec`` is not implemented.

Whether bwrap works is detected once per process by running ``bwrap ... true``
with the same namespace options.

Unconfined runs are still tied to pdd's life: :func:`popen_kwargs` starts them in
a new session with ``PR_SET_PDEATHSIG`` = SIGKILL (Linux ``prctl(2)``), so a
killed pdd takes its test process with it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

SETTINGS = ("auto", "bwrap", "none")
INSTALL_HINT = "install bubblewrap: `apt-get install bubblewrap` (Debian/Ubuntu) or `dnf install bubblewrap` (Fedora)"
SANDBOX_HOME = "/tmp/home"

_NAMESPACE_OPTS = ("--unshare-net", "--unshare-pid", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
                   "--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys",
                   "--ro-bind-try", "/proc/sysrq-trigger", "/proc/sysrq-trigger", "--dev", "/dev")
#: Variables the code under test sees (besides :data:`PASSED_ENV_PREFIXES` and
#: ``tests.pass_env``): what a Python test run needs, nothing that identifies a service.
PASSED_ENV = ("PATH", "HOME", "TMPDIR", "TEMP", "TMP", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ",
              "TERM", "COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "VIRTUAL_ENV", "CONDA_PREFIX", "CI",
              "SOURCE_DATE_EPOCH")
PASSED_ENV_PREFIXES = ("LC_", "PYTHON", "PYTEST_", "HYPOTHESIS_", "COVERAGE_", "PDD_TEST_", "PDD_REQ_")
_probe_lock = threading.Lock()
_probed: tuple[str | None, str] | None = None  # (bwrap path or None, reason when unusable)
_warned = False


@dataclass(frozen=True)
class Sandbox:
    """How model-written code is launched.

    ``name``: ``bwrap`` or ``none``; ``confined``: True under bwrap; ``reason``: why
    it is unconfined (empty when confined); ``program``: the bwrap executable.
    """

    name: str
    confined: bool
    reason: str = ""
    program: str | None = None

    def command(self, argv: list[str], *, root: Path, writable: Iterable[Path] = ()) -> list[str]:
        """``argv`` wrapped so that it runs confined (unchanged when unconfined).

        ``root``: the repository (read-only inside); ``writable``: folders the code
        may write (absolute paths, bound read-write at the same path). The working
        folder of the launched process is kept (bwrap changes into it inside).
        """
        if not self.confined:
            return list(argv)
        hidden = hidden_folders()
        cmd = [self.program or "bwrap", "--ro-bind", "/", "/", *_NAMESPACE_OPTS]
        for folder in hidden:
            cmd += ["--tmpfs", folder]
        for path in _rebound(root, hidden, argv[0] if argv else ""):
            cmd += ["--ro-bind", path, path]
        for path in writable:
            p = os.path.realpath(path)
            cmd += ["--bind", p, p]
        for folder in hidden:  # the empty stand-ins are read-only too (only the private /tmp is writable)
            if folder != "/tmp":
                cmd += ["--remount-ro", folder]
        cmd += ["--dir", SANDBOX_HOME, "--setenv", "HOME", SANDBOX_HOME, "--setenv", "TMPDIR", "/tmp", "--", *argv]
        return cmd

    def to_json(self) -> dict[str, Any]:
        return {"sandbox": self.name, "confined": self.confined, "reason": self.reason or None}


def hidden_folders() -> list[str]:
    """Folders replaced by empty ones inside the sandbox: ``/tmp`` and the places
    credentials and sockets live (``$HOME``, ``/home``, ``/root``, ``/run``,
    ``/var/run``, ``/mnt``, ``/media``), those that exist as real folders (a symbolic
    link such as Debian's ``/var/run`` -> ``/run`` is covered by its target)."""
    out: list[str] = ["/tmp"]
    for folder in (os.path.expanduser("~"), "/home", "/root", "/run", "/var/run", "/mnt", "/media"):
        real = os.path.realpath(folder) if folder else ""
        if real and real != "/" and os.path.isdir(real):  # a symlinked home is hidden at its target
            out.append(real)
    return _outermost(out)


def _outermost(paths: Iterable[str]) -> list[str]:
    """``paths`` without duplicates and without those inside another, outermost first."""
    out: list[str] = []
    for p in sorted(set(paths), key=lambda p: (p.count("/"), p)):
        if not any(p == o or p.startswith(o.rstrip("/") + "/") for o in out):
            out.append(p)
    return out


def _rebound(root: Path, hidden: list[str], argv0: str = "") -> list[str]:
    """Folders that must stay visible (read-only) although a folder of ``hidden``
    above them is replaced: the repository, the Python installation, pdd's own
    package (an editable install), the program ``argv0`` and its installation (the
    folder above its ``bin/``: a ``tests.command`` in a virtualenv under ``$HOME``),
    ``sys.path`` and ``PYTHONPATH`` entries.
    Outermost first, no duplicates."""
    import pdd

    tool = shutil.which(argv0) if argv0 else None  # e.g. tests.command: [~/.local/bin/uv, ...] or a venv's python
    candidates = [str(root), sys.prefix, sys.exec_prefix, sys.base_prefix, os.path.dirname(sys.executable),
                  *((os.path.dirname(os.path.dirname(os.path.realpath(tool))), os.path.dirname(tool)) if tool else ()),
                  os.path.dirname(os.path.dirname(os.path.abspath(pdd.__file__))),
                  *sys.path, *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    found: list[str] = []
    for c in candidates:
        if not c:
            continue
        for p in {os.path.abspath(c), os.path.realpath(c)}:
            if p not in hidden and any(p.startswith(h.rstrip("/") + "/") for h in hidden) and os.path.exists(p):
                found.append(p)
    return _outermost(found)


def clean_env(env: Mapping[str, str] | None = None, pass_env: Iterable[str] = ()) -> dict[str, str]:
    """The variables of ``env`` (default ``os.environ``) that model-written code may
    see: :data:`PASSED_ENV`, names starting with one of :data:`PASSED_ENV_PREFIXES`,
    and the names in ``pass_env`` (``tests.pass_env``; a trailing ``*`` matches a
    prefix) — never a credential-like name (:func:`pdd.redact.is_credential_name`),
    whatever the lists say. An allow-list, so a secret with an unusual name
    (``DATABASE_URL``, ``PGPASSWORD``) does not reach the code either."""
    from pdd.redact import is_credential_name

    source = os.environ if env is None else env
    exact = set(PASSED_ENV) | {n for n in pass_env if not n.endswith("*")}
    prefixes = PASSED_ENV_PREFIXES + tuple(n[:-1] for n in pass_env if n.endswith("*") and len(n) > 1)
    return {k: v for k, v in source.items()
            if (k in exact or k.startswith(prefixes)) and not is_credential_name(k)}


SCRATCH_PREFIXES = ("pdd-tests-", "pdd-probe-", "pdd-lint-", "pdd-differential-")
_swept = False


def scratch_dir(prefix: str) -> Path:
    """A new private folder ``<tmp>/<prefix><pid>-XXXXXXXX`` for one run of
    model-written code. The first call in a process removes the scratch folders
    (any of :data:`SCRATCH_PREFIXES`) of this user whose pid is no longer alive:
    what a killed pdd left behind. Raises :class:`OSError` if it cannot create it."""
    import tempfile

    global _swept
    if not _swept:
        _swept = True
        remove_stale_scratch(Path(tempfile.gettempdir()))
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))


def remove_stale_scratch(folder: Path) -> list[Path]:
    """Remove ``folder``'s scratch folders (:data:`SCRATCH_PREFIXES` + ``<pid>-``) owned
    by this user whose pid is not running; return them. Folders without a pid in
    their name (older pdd) are removed when older than an hour."""
    import time

    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        prefix = next((p for p in SCRATCH_PREFIXES if entry.name.startswith(p)), None)
        if prefix is None:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if not entry.is_dir(follow_symlinks=False) or st.st_uid != os.getuid():
                continue
        except OSError:
            continue
        pid_text = entry.name[len(prefix):].split("-", 1)[0]
        if pid_text.isdigit():
            if _alive(int(pid_text)):
                continue
        elif time.time() - st.st_mtime < 3600:
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(Path(entry.path))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _probe_bwrap() -> tuple[str | None, str]:
    """``(path, "")`` when bwrap can create the namespaces, else ``(None, why)``; run once per process."""
    global _probed
    with _probe_lock:
        if _probed is not None:
            return _probed
        if not sys.platform.startswith("linux"):
            _probed = (None, f"no sandbox is implemented on {sys.platform} (macOS sandbox-exec is not supported yet)")
            return _probed
        program = shutil.which("bwrap")
        if program is None:
            _probed = (None, "bwrap (bubblewrap) is not installed")
            return _probed
        argv = [program, "--ro-bind", "/", "/", *_NAMESPACE_OPTS, "--tmpfs", "/tmp", "true"]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            _probed = (None, f"bwrap could not be started: {exc}")
            return _probed
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            _probed = (None, "bwrap cannot create namespaces here"
                       + (f" ({detail[-1]})" if detail else f" (exit {proc.returncode})")
                       + "; unprivileged user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone"
                       " or a container without CAP_SYS_ADMIN)")
            return _probed
        _probed = (program, "")
        return _probed


def select(setting: str) -> Sandbox:
    """The sandbox for ``tests.sandbox`` = ``setting`` (``auto``, ``bwrap`` or ``none``).

    ``auto`` falls back to unconfined (warning once per process on stderr, with the
    install command) where bwrap is missing or unusable. Raises
    :class:`pdd.errors.UsageError` (exit 2) for an unknown setting, or for ``bwrap``
    when bwrap is missing or cannot create namespaces.
    """
    from pdd.errors import UsageError

    if setting == "none":
        return Sandbox("none", False, "tests.sandbox is none (opt-out)")
    if setting not in SETTINGS:
        raise UsageError(f"unknown tests.sandbox {setting!r}", hint="use auto, bwrap or none")
    program, why = _probe_bwrap()
    if program is not None:
        return Sandbox("bwrap", True, "", program)
    if setting == "bwrap":
        raise UsageError(f"tests.sandbox is bwrap, but {why}",
                         hint=f"{INSTALL_HINT}; or set tests.sandbox: auto to run unconfined with a warning")
    _warn_once(why)
    return Sandbox("none", False, why)


def _warn_once(why: str) -> None:
    global _warned
    with _probe_lock:
        if _warned:
            return
        _warned = True
    print(f"pdd: warning: model-written code (behavior tests) runs UNSANDBOXED, with your rights: {why}. "
          f"To confine it, {INSTALL_HINT}; to silence this warning, set tests.sandbox: none in .pdd/config.yaml",
          file=sys.stderr)


_libc: Any = None


def _load_libc() -> Any:
    """libc through ctypes, loaded in the parent: the child between fork and exec must
    not import (another thread may hold the import lock)."""
    global _libc
    if _libc is None:
        try:
            import ctypes

            _libc = ctypes.CDLL(None, use_errno=True)
        except (OSError, ImportError):
            _libc = False
    return _libc


def _set_pdeathsig() -> None:  # pragma: no cover - runs in the child between fork and exec
    if _libc:
        _libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1 (linux/prctl.h)


def popen_kwargs() -> dict[str, Any]:
    """Keyword arguments for :class:`subprocess.Popen` of model-written code: a new
    session (so :func:`pdd.testrun.kill_group` reaches its children) and, on Linux,
    ``PR_SET_PDEATHSIG`` = SIGKILL so the process dies with pdd even unconfined.

    The death signal fires when the *thread* that forked exits; pdd's test runs are
    started from worker threads that wait for them, so that is the intended scope."""
    kwargs: dict[str, Any] = {"start_new_session": True}
    if sys.platform.startswith("linux") and _load_libc():
        kwargs["preexec_fn"] = _set_pdeathsig
    return kwargs


def launch(argv: list[str], *, root: Path, writable: Iterable[Path], sandbox: Sandbox, cwd: Path,
           env: Mapping[str, str], pass_env: Iterable[str] = (), **kwargs: Any) -> "subprocess.Popen":
    """Start model-written code: ``sandbox.command(argv, ...)`` with :func:`clean_env`
    of ``env`` (and ``pass_env``) and :func:`popen_kwargs`. Raises :class:`OSError`
    if it cannot start."""
    return subprocess.Popen(sandbox.command(argv, root=root, writable=writable), cwd=cwd,
                            env=clean_env(env, pass_env), **popen_kwargs(), **kwargs)


__all__ = ["Sandbox", "select", "clean_env", "popen_kwargs", "launch", "scratch_dir", "remove_stale_scratch",
           "SETTINGS", "INSTALL_HINT"]
