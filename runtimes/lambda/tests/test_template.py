"""The CloudFormation template in docs/ is valid: cfn-lint finds nothing in it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[3] / "docs" / "lambda-template.yaml"
CFN_LINT = Path(sys.executable).with_name("cfn-lint")  # a dev dependency: in this venv


def test_cfn_lint_accepts_the_template() -> None:
    done = subprocess.run(
        [str(CFN_LINT), "--regions", "us-east-1", "--", str(TEMPLATE)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_template_names_the_handler_and_the_config_variable() -> None:
    text = TEMPLATE.read_text()
    assert "Handler: multistore.aws_lambda.handler" in text
    assert "CONFIG_PATH: !Sub /var/task/${ConfigFile}" in text
