"""Command-line tools the end-to-end tests drive, installed on first use when missing.

A fresh machine running the test command may lack a Debian tool a test needs; the test then
installs it (as root, or through passwordless sudo) instead of being skipped. If that is
impossible the test fails and says why: a missing tool never silently passes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache

_APT_TIMEOUT = 600


@cache
def debian_tool(binary: str, package: str) -> str:
    """The path of ``binary``, installing Debian ``package`` with apt-get if it is missing."""
    found = shutil.which(binary)
    if found is not None:
        return found
    apt_get = shutil.which("apt-get")
    if apt_get is None:
        raise FileNotFoundError(f"{binary} is missing and there is no apt-get to install {package}")
    command = [apt_get] if os.geteuid() == 0 else ["sudo", "-n", apt_get]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*command, "install", "-y", "--no-install-recommends", package]
    if subprocess.run(install, env=env, timeout=_APT_TIMEOUT, check=False).returncode != 0:
        # A fresh machine may not have package lists yet.
        subprocess.run([*command, "update"], env=env, timeout=_APT_TIMEOUT, check=True)
        subprocess.run(install, env=env, timeout=_APT_TIMEOUT, check=True)
    found = shutil.which(binary)
    if found is None:
        raise FileNotFoundError(f"installing {package} did not provide {binary}")
    return found
