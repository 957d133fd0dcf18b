"""The environment a run came from, for env.json. Imports no framework: versions come from metadata."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from .rows import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parent.parent  # the checkout, where git knows the commit
HARNESS = ("numpy", "scipy", "pandas")  # what the harness itself computes with


def _run(command: list[str], cwd: Path | None = None) -> str | None:
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def gpus() -> list[dict]:
    """NVIDIA GPUs visible through nvidia-smi: [{name, driver}], [] when none (or no driver)."""
    if shutil.which("nvidia-smi") is None:
        return []
    out = _run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"])
    rows = [line.split(",") for line in (out or "").splitlines() if line.strip()]
    return [{"name": row[0].strip(), "driver": row[-1].strip()} for row in rows]


def git_commit() -> str | None:
    commit = _run(["git", "rev-parse", "HEAD"], cwd=ROOT)
    if commit is None:  # a copy of the checkout without git (a lent GPU machine, say) may name its commit
        return os.environ.get("XORBENCH_GIT_COMMIT")
    dirty = _run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT)
    return commit + ("-dirty" if dirty else "")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gb() -> float | None:
    try:
        import psutil
    except ImportError:
        return None
    return round(psutil.virtual_memory().total / 2**30, 1)


def blas() -> str | None:
    """The BLAS under NumPy, as threadpoolctl sees it."""
    try:
        import numpy  # noqa: F401  (threadpoolctl lists only loaded libraries)
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    found = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join(f"{i['internal_api']} {i.get('version') or ''} ({i.get('threading_layer', '?')})" for i in found)


def distributions() -> tuple[str, ...]:
    """The harness's own libraries and every registered backend's (its BackendSpec.distributions)."""
    from .. import backends

    found = [*HARNESS, *(d for spec in backends.REGISTRY.values() for d in spec.distributions)]
    return tuple(dict.fromkeys(found))


def frameworks() -> dict[str, str]:
    versions = {}
    for name in distributions():
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def collect(command: str, threads: int) -> dict:
    gpu = gpus()
    return {
        "schema_version": SCHEMA_VERSION,
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": command,
        "git_commit": git_commit(),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": memory_gb(),
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "frameworks": frameworks(),
        "blas": blas(),
        "gpu": gpu[0] if gpu else None,
        "threads": threads,
    }
