"""Run the real aws-cli against a gateway process (the workspace's ``cli`` dependency group)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from multistore.testing.gateway import GatewayProcess


def run_aws_cli(
    gateway: GatewayProcess | str,
    *args: str,
    credentials: tuple[str, str],
    cwd: Path,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``aws ARGS --endpoint-url GATEWAY`` with only the given key (no user config leaks in).

    ``gateway`` is a gateway process or the plain-HTTP URL of any endpoint.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=credentials[0],
        AWS_SECRET_ACCESS_KEY=credentials[1],
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    url = gateway if isinstance(gateway, str) else gateway.url
    if not isinstance(gateway, str) and gateway.ca_cert is not None:
        env["AWS_CA_BUNDLE"] = str(gateway.ca_cert)
    command = [sys.executable, "-m", "awscli", *args, "--endpoint-url", url]
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
