"""Each distribution installs alone, from the wheels ``uv build`` makes, with only what it
declares, and carries the metadata publishing needs (license, bounds on its siblings)."""

from __future__ import annotations

import subprocess
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from multistore.testing.venvs import (
    Wheelhouse,
    install_environment,
    member_folders,
    uv_executable,
)

# Distribution → the module it provides: importing it must work with what it declares.
MODULES = {
    "multistore-core": "multistore.core.gateway",
    "multistore-http-client": "multistore.http_client.client",
    "multistore-static-config": "multistore.static_config",
    "multistore-sts": "multistore.sts.extension",
    "multistore-server": "multistore.server.cli",
    "multistore-lambda": "multistore.aws_lambda.runtime",
    "multistore-testing": "multistore.testing.plugin",
    "multistore-example-extension": "multistore.example_extension",
    "multistore-oidc-provider": "multistore.oidc_provider.extension",
    "multistore-path-mapping": "multistore.path_mapping.plugin",
    "multistore-metering": "multistore.metering.plugin",
    "multistore-azure": "multistore.azure.backend",
    "multistore-gcs": "multistore.gcs.backend",
}


def test_every_member_is_covered() -> None:
    assert set(member_folders()) == set(MODULES)


def metadata(wheel: Path) -> tuple[dict[str, list[str]], list[str]]:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        text = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA")))
    message = Parser().parsestr(text.decode())
    fields: dict[str, list[str]] = {}
    for key, value in message.items():
        fields.setdefault(key, []).append(value)
    return fields, names


@pytest.mark.parametrize("distribution", sorted(MODULES))
def test_wheel_metadata_is_ready_for_publishing(
    distribution: str, workspace_wheels: Wheelhouse
) -> None:
    fields, names = metadata(workspace_wheels.wheel(distribution))
    assert fields["Name"] == [distribution]
    assert fields["License-Expression"] == ["MIT"]
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    # The namespace stays open: no member ships multistore/__init__.py.
    assert "multistore/__init__.py" not in names
    siblings = [r for r in fields.get("Requires-Dist", []) if r.startswith("multistore-")]
    for requirement in siblings:
        assert ">=0.1.0" in requirement, requirement
        assert "<0.2" in requirement, requirement
    private = "Private :: Do Not Upload" in fields.get("Classifier", [])
    assert private == (distribution in ("multistore-testing", "multistore-example-extension"))


@pytest.mark.parametrize("distribution", sorted(MODULES))
def test_installs_alone_with_what_it_declares(
    distribution: str, workspace_wheels: Wheelhouse, tmp_path: Path
) -> None:
    python = install_environment(tmp_path, [distribution], workspace_wheels)
    imported = subprocess.run(
        [str(python), "-c", f"import {MODULES[distribution]}"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    checked = subprocess.run(
        [uv_executable(), "pip", "check", "--python", str(python)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    if distribution == "multistore-server":
        script = python.parent / "multistore-server"
        shown = subprocess.run([str(script), "--version"], capture_output=True, text=True,
                               timeout=60, check=False)  # fmt: skip
        assert shown.stdout.strip() == "multistore-server 0.1.0", shown.stdout + shown.stderr
