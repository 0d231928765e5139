"""Command-line tools from Debian packages, installed on first use when missing.

The client matrix drives rclone and GDAL, which are not on PyPI. A fresh machine (CI runs as
root) gets them with apt-get the first time a test asks; elsewhere a missing tool is an error
that names the package, so the test fails instead of silently skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess

# apt-get may be busy in another process; wait for its lock instead of failing at once.
_APT = ["apt-get", "-o", "DPkg::Lock::Timeout=600", "-q", "-y"]


class ToolUnavailable(RuntimeError):
    pass


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        [*_APT, *args], env=env, capture_output=True, text=True, timeout=900, check=False
    )


def ensure_debian_tool(binary: str, package: str) -> str:
    """The path of ``binary``, installing Debian's ``package`` first if it is not on PATH."""
    found = shutil.which(binary)
    if found:
        return found
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise ToolUnavailable(
            f"{binary!r} is not installed and cannot be installed from here: "
            f"run `apt-get install {package}` as root"
        )
    installed = _apt("install", "--no-install-recommends", package)
    if installed.returncode != 0:
        # A fresh machine may have no package lists yet.
        _apt("update")
        installed = _apt("install", "--no-install-recommends", package)
    found = shutil.which(binary)
    if found is None:
        raise ToolUnavailable(
            f"installing Debian package {package!r} did not provide {binary!r}:\n"
            f"{installed.stdout[-2000:]}\n{installed.stderr[-2000:]}"
        )
    return found
