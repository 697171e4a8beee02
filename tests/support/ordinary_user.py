"""The ordinary (non-root) user that cluster tests run as, made by scripts/ordinary_user.sh.

Researchers are never root on a cluster, Grid Engine refuses root's jobs and PostgreSQL will
not run as root: tests of those flows run `pyexp` as this user, from its own venv (the system
interpreter, editable install of this checkout), in folders it owns. The test process itself
stays root, so it can read everything the user writes.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from support.paths import ROOT, TESTS
from support.services import service_missing

USER_NAME = os.environ.get("PYEXP_TEST_USER", "pyexpuser")
# Folders the user owns live here: pytest's own tmp_path is root's and mode 0700.
WORK_BASE = Path(os.environ.get("PYEXP_TEST_USER_DIR", "/tmp/pyexp-ordinary-user"))


@dataclass(frozen=True)
class OrdinaryUser:
    name: str
    uid: int
    gid: int
    home: Path
    venv: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def pyexp(self) -> Path:
        return self.venv / "bin" / "pyexp"

    def workdir(self, label: str = "t") -> Path:
        """A fresh folder owned by the user (mode 0755 so the test can look in)."""
        WORK_BASE.mkdir(mode=0o755, exist_ok=True)
        os.chmod(WORK_BASE, 0o1777)  # like /tmp: anyone makes folders, only owners remove them
        path = WORK_BASE / f"{label}-{uuid.uuid4().hex[:8]}"
        path.mkdir(mode=0o755)
        os.chown(path, self.uid, self.gid)
        return path

    def give(self, path: Path) -> Path:
        """Hand a file or folder the test wrote (as root) to the user."""
        for p in [path, *(path.rglob("*") if path.is_dir() else [])]:
            os.chown(p, self.uid, self.gid)
        return path

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """A login-like environment: nothing of root's leaks in (no PYEXP_*, no HOME=/root)."""
        env = {
            "HOME": str(self.home),
            "USER": self.name,
            "LOGNAME": self.name,
            "PATH": f"{self.venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(TESTS),  # `experiments:...` functions, as the root tests use them
        }
        env.update(extra or {})
        return env

    def run(self, args: Sequence[str | Path], cwd: Path, env: Mapping[str, str] | None = None,
            timeout: float = 300, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command as the user; `pyexp` and `python` resolve to the user's venv."""
        environment = self.env(env)
        assignments = [f"{k}={v}" for k, v in environment.items()]
        return subprocess.run(
            ["runuser", "-u", self.name, "--", "env", "-i", *assignments, *map(str, args)],
            cwd=cwd, capture_output=True, text=True, timeout=timeout, input=input,
        )


def venv_for(home: Path, checkout: Path = ROOT) -> Path:
    """The venv scripts/ordinary_user.sh made for this checkout (one per checkout path)."""
    return home / f"venv-{hashlib.sha256(str(checkout).encode()).hexdigest()[:12]}"


def find_ordinary_user() -> OrdinaryUser:
    """The user, checked ready; skips on a laptop, fails under CI=true (service_missing)."""
    how = f"run `bash scripts/ordinary_user.sh` as root (it creates {USER_NAME} and its venv)"
    if os.geteuid() != 0:
        service_missing("an ordinary test user", "the test run is not root, so it cannot act as another user")
    if shutil.which("runuser") is None:
        service_missing("an ordinary test user", "runuser (util-linux) not found")
    try:
        entry = pwd.getpwnam(USER_NAME)
    except KeyError:
        service_missing("an ordinary test user", f"no user {USER_NAME}: {how}")
    user = OrdinaryUser(USER_NAME, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir), venv_for(Path(entry.pw_dir)))
    if not user.pyexp.exists():
        service_missing("an ordinary test user", f"{user.venv} has no pyexp for {ROOT}: {how}")
    return user
