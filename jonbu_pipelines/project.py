"""The dbt project (``dbt/`` at the repository root) as a dagster-dbt ``DbtProject``.

The manifest (``dbt/target/manifest.json``) is what ``@dbt_assets`` reads when the definitions
load. ``dagster dev`` re-parses on start (``prepare_if_dev``); elsewhere :func:`ensure_manifest`
parses once when the manifest is missing or older than any file of the project, under a file
lock so concurrent processes do not parse over each other.
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtProject

logger = logging.getLogger(__name__)

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def _newest_source_mtime(project_dir: Path) -> float:
    newest = 0.0
    for sub in ("models", "macros", "tests"):
        for path in (project_dir / sub).rglob("*"):
            if path.is_file():
                newest = max(newest, path.stat().st_mtime)
    for name in ("dbt_project.yml", "profiles.yml"):
        newest = max(newest, (project_dir / name).stat().st_mtime)
    return newest


def manifest_is_stale(project: DbtProject = dbt_project) -> bool:
    """Whether the manifest is missing or older than a model, macro, test or config file."""
    manifest = Path(project.manifest_path)
    if not manifest.exists():
        return True
    return manifest.stat().st_mtime < _newest_source_mtime(Path(project.project_dir))


def ensure_manifest(project: DbtProject = dbt_project) -> Path:
    """Run ``dbt parse`` when the manifest is missing or stale; returns its path.

    Raises
    ------
    RuntimeError
        If ``dbt parse`` fails (its output is in the message).
    """
    manifest = Path(project.manifest_path)
    if not manifest_is_stale(project):
        return manifest
    manifest.parent.mkdir(parents=True, exist_ok=True)
    lock_path = manifest.parent / ".parse.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if manifest_is_stale(project):
                _parse(project)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return manifest


def dbt_executable() -> str:
    """The ``dbt`` next to this Python (the venv's), else ``dbt`` on PATH."""
    dbt = Path(sys.executable).parent / "dbt"
    return str(dbt) if dbt.exists() else "dbt"


def _parse(project: DbtProject) -> None:
    exe = dbt_executable()
    env = dict(os.environ)
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    logger.info("parsing the dbt project %s", project.project_dir)
    proc = subprocess.run(
        [exe, "parse", "--quiet", "--profiles-dir", str(project.profiles_dir),
         "--target-path", str(Path(project.manifest_path).parent)],
        cwd=project.project_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"dbt parse failed:\n{proc.stdout}\n{proc.stderr}")
