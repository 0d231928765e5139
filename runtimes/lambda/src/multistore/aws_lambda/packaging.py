"""``multistore-lambda package``: a deployment zip with only what the function needs.

Run from the workspace checkout (it builds the members' wheels with uv). The zip holds the
members the function needs (core, static-config, http-client, lambda, plus the ones the
config asks for and ``--with`` names), their third-party dependencies at the versions of
``uv.lock`` as wheels for the chosen Lambda architecture and Python, and the config file.
Nothing is installed editable and nothing of the workspace leaks in.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

BASE = (
    "multistore-core",
    "multistore-static-config",
    "multistore-http-client",
    "multistore-lambda",
)
EXTRAS = {
    "sts": "multistore-sts",
    "path-mapping": "multistore-path-mapping",
    "oidc-provider": "multistore-oidc-provider",
}
# Lambda's Python 3.12+ runtimes run on Amazon Linux 2023 (glibc 2.34).
PLATFORMS = {"x86_64": "x86_64-manylinux_2_34", "arm64": "aarch64-manylinux_2_34"}


class PackagingError(RuntimeError):
    """The zip cannot be built; the message says why."""


def needed_members(config: Path, extras: Sequence[str]) -> list[str]:
    """The members to ship: the base, ``--with`` extras, and what the config itself uses."""
    from multistore.static_config import load_config

    loaded = load_config(config)
    members = list(BASE)
    wanted = list(extras)
    if "path_mapping" in loaded.extra_sections:
        wanted.append("path-mapping")
    if any(b.backend_options.get("auth_type") == "oidc" for b in loaded.buckets):
        wanted.append("oidc-provider")
    for extra in wanted:
        if extra not in EXTRAS:
            raise PackagingError(f"--with {extra!r}: choose from {', '.join(sorted(EXTRAS))}")
        if EXTRAS[extra] not in members:
            members.append(EXTRAS[extra])
    return members


def _run(command: list[str], cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PackagingError(f"{' '.join(command[:3])} failed:\n{done.stderr.strip()[-2000:]}")
    return done.stdout


def build_zip(
    config: Path,
    output: Path,
    *,
    extras: Sequence[str] = (),
    arch: str = "x86_64",
    python: str = "3.12",
    workspace: Path | None = None,
    offline: bool = False,
) -> tuple[Path, list[str]]:
    """Build the zip; returns its path and the members in it."""
    workspace = workspace or _find_workspace()
    # ``uv run`` tells its children where it is; otherwise PATH.
    uv = os.environ.get("UV") or shutil.which("uv") or "uv"
    members = needed_members(config, extras)
    with tempfile.TemporaryDirectory(prefix="multistore-lambda-") as scratch:
        work = Path(scratch)
        wheels, target = work / "wheels", work / "package"
        packages = [arg for member in members for arg in ("--package", member)]
        # Third-party pins from the lock, for exactly these members.
        pins = _run(
            [uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-workspace",
             "--no-header", "--no-annotate", *packages],
            workspace,
        )  # fmt: skip
        (work / "requirements.txt").write_text(pins)
        for member in members:
            _run([uv, "build", "--wheel", "--package", member, "--out-dir", str(wheels)], workspace)
        install = [
            uv, "pip", "install", "--target", str(target), "--no-deps", "--only-binary", ":all:",
            "-r", str(work / "requirements.txt"), *map(str, sorted(wheels.glob("*.whl"))),
        ]  # fmt: skip
        if arch == "host":  # this machine's interpreter: for trying the zip out locally
            install += ["--python", sys.executable]
        else:
            install += ["--python-version", python, "--python-platform", PLATFORMS[arch]]
        if offline:
            install.append("--offline")
        _run(install, workspace)
        shutil.copy(config, target / config.name)
        output.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(target.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    archive.write(path, path.relative_to(target))
    return output, members


def _find_workspace() -> Path:
    for folder in [Path.cwd(), *Path.cwd().parents]:
        if (folder / "uv.lock").exists() and (folder / "runtimes" / "lambda").is_dir():
            return folder
    raise PackagingError("run this from the multistore workspace checkout (uv.lock not found)")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="multistore-lambda",
        description="Tools for the multistore Lambda runtime.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    package = commands.add_parser("package", help="build a deployment zip (default: off)")
    package.add_argument("--config", required=True, type=Path, help="the gateway config")
    package.add_argument(
        "--with", dest="extras", action="append", default=[],
        help=f"add a plugin: {', '.join(sorted(EXTRAS))} (default: only what the config needs)",
    )  # fmt: skip
    package.add_argument("-o", "--output", type=Path, default=Path("function.zip"),
                         help="the zip to write (default: function.zip)")  # fmt: skip
    package.add_argument("--arch", choices=[*sorted(PLATFORMS), "host"], default="x86_64",
                         help="Lambda architecture, or host: this machine's interpreter, for "
                         "trying the zip out locally (default: x86_64)")  # fmt: skip
    package.add_argument("--python", default="3.12", help="Lambda Python version (default: 3.12)")
    package.add_argument("--offline", action="store_true",
                         help="use only wheels already in uv's cache (default: off)")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        output, members = build_zip(
            args.config, args.output, extras=args.extras, arch=args.arch, python=args.python,
            offline=args.offline,
        )  # fmt: skip
    except (PackagingError, ValueError, OSError) as exc:
        sys.exit(f"multistore-lambda package: {exc}")
    size = output.stat().st_size
    print(f"{output}: {size:,} bytes ({', '.join(members)}); handler multistore.aws_lambda.handler,"
          f" CONFIG_PATH=/var/task/{args.config.name}")  # fmt: skip


if __name__ == "__main__":
    main()
