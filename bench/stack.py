"""The services under test, started on 127.0.0.1 with free ports.

- ``static``: nginx serving ``www/objects/*`` (the S3 backend) and accepting PUTs under
  ``www/uploads/`` (the upload sink);
- ``nginx-proxy``: nginx ``proxy_pass`` to ``static`` with a keepalive upstream;
- ``naive``: ``naive_proxy.py`` to ``static``;
- ``gateway``: ``multistore-server`` whose ``s3`` buckets point at ``static``
  (``skip_signature``) and whose ``file`` bucket is a local directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import nginx
from proctree import Service, ServiceGroup, free_port, wait_listening
from signing import credential_config

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30
UVLOOP_DIR = Path(tempfile.gettempdir()) / "multistore-bench-uvloop"
OBJECT_SIZES = {"1k.bin": KIB, "1m.bin": MIB, "64m.bin": 64 * MIB}

# Buckets of the gateway config; their backend paths mirror what the proxies are asked for.
BUCKET_READ = "bench"  # s3 → static nginx /objects/
BUCKET_S3_PUT = "s3put"  # s3 → static nginx /uploads/ (WebDAV PUT)
BUCKET_FILE = "files"  # file backend


def ensure_tools(tools: tuple[str, ...] = ("nginx", "wrk")) -> None:
    """Install the Debian packages the benchmark drives, when missing."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if "nginx" in missing and Path("/usr/sbin/nginx").exists():
        missing.remove("nginx")
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit(
            f"missing {', '.join(missing)}: run `sudo apt-get install -y {' '.join(missing)}`"
        )
    print(f"installing {', '.join(missing)} with apt-get …", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)


def uvloop_path(cache: Path) -> Path:
    """A directory holding uvloop, for PYTHONPATH, installed outside the project's deps."""
    try:
        import uvloop  # noqa: F401
    except ModuleNotFoundError:
        pass
    else:
        return cache  # already importable; the path is harmless
    if not (cache / "uvloop").exists():
        uv = os.environ.get("UV") or shutil.which("uv")
        if uv is None:
            raise SystemExit("--uvloop needs uv to install uvloop into a private directory")
        print(f"installing uvloop into {cache} …", flush=True)
        subprocess.run(
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--python",
                sys.executable,
                "--target",
                str(cache),
                "uvloop",
            ],
            check=True,
        )
    return cache


def export_revision(revision: str, workdir: Path) -> list[Path]:
    """The ``src`` directories of every workspace member at ``revision`` (``git archive``).

    On ``PYTHONPATH`` they come before the editable installs of this tree, and ``multistore``
    is a namespace package, so each ``multistore.*`` package is imported from them instead.
    """
    target = workdir / f"source-{revision.replace('/', '_')}"
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO_DIR), "archive", revision, "packages", "runtimes"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return sorted(target.glob("*/*/src"))


def make_sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as handle:
        handle.truncate(size)
    return path


@dataclass(slots=True)
class Stack:
    workdir: Path
    group: ServiceGroup
    ports: dict[str, int] = field(default_factory=dict)
    # More [[buckets]] for the gateway (e.g. bench/memory_flat.py's azure bucket).
    extra_buckets: list[dict[str, object]] = field(default_factory=list)

    @property
    def www(self) -> Path:
        return self.workdir / "www"

    @property
    def files_root(self) -> Path:
        return self.workdir / "files"

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    # --- setup ---------------------------------------------------------------------------

    def create_objects(self, sizes: dict[str, int] = OBJECT_SIZES) -> None:
        objects = self.www / "objects"
        objects.mkdir(parents=True, exist_ok=True)
        (self.www / "uploads").mkdir(exist_ok=True)
        self.files_root.mkdir(exist_ok=True)
        for name, size in sizes.items():
            path = objects / name
            if not path.exists() or path.stat().st_size != size:
                with open(path, "wb") as handle:
                    for offset in range(0, size, 8 * MIB):
                        handle.write(os.urandom(min(8 * MIB, size - offset)))
        # nginx workers run as an unprivileged user when the master is root.
        for directory in (self.workdir, self.www, objects, self.www / "uploads"):
            directory.chmod(0o777 if directory.name == "uploads" else 0o755)
        for path in objects.iterdir():
            path.chmod(0o644)

    def gateway_config(self) -> Path:
        path = self.workdir / "gateway.json"
        path.write_text(json.dumps(self.gateway_config_data(), indent=2))
        return path

    def gateway_config_data(self) -> dict[str, object]:
        static = self.url("static")
        return {
            "buckets": [
                {
                    "name": BUCKET_READ,
                    "backend_type": "s3",
                    "anonymous_access": True,
                    "backend_options": {
                        "endpoint": static,
                        "bucket_name": "objects",
                        "skip_signature": "true",
                    },
                },
                {
                    "name": BUCKET_S3_PUT,
                    "backend_type": "s3",
                    "anonymous_access": False,
                    "backend_options": {
                        "endpoint": static,
                        "bucket_name": "uploads",
                        "skip_signature": "true",
                    },
                },
                {
                    "name": BUCKET_FILE,
                    "backend_type": "file",
                    "anonymous_access": False,
                    # nginx's PUT sink does not fsync either; durability is not what is measured.
                    "backend_options": {"root": str(self.files_root), "fsync": "false"},
                },
                *self.extra_buckets,
            ],
            "credentials": [credential_config()],
        }

    # --- services ------------------------------------------------------------------------

    def start_static(self, *, workers: int = 2) -> None:
        port = self.ports["static"] = free_port()
        prefix = self.workdir / "nginx-static"
        conf = nginx.write_static_config(prefix, port=port, root=self.www, workers=workers)
        self.group.start("nginx-static", nginx.nginx_argv(prefix, conf))
        wait_listening(port)

    def start_nginx_proxy(self, *, workers: int = 2, tuned: bool = False) -> Service:
        port = self.ports["nginx-proxy"] = free_port()
        prefix = self.workdir / "nginx-proxy"
        conf = nginx.write_proxy_config(
            prefix, port=port, upstream_port=self.ports["static"], workers=workers, tuned=tuned
        )
        service = self.group.start("nginx-proxy", nginx.nginx_argv(prefix, conf))
        wait_listening(port)
        return service

    def start_naive(self) -> Service:
        port = self.ports["naive"] = free_port()
        argv = [
            sys.executable,
            str(BENCH_DIR / "naive_proxy.py"),
            "--listen",
            f"127.0.0.1:{port}",
            "--upstream",
            self.url("static"),
        ]
        service = self.group.start("naive", argv)
        wait_listening(port)
        return service

    def start_floor(self, layer: str, *, workers: int = 2) -> Service:
        """``floor_proxy.py --layer LAYER`` to ``static``: see that script."""
        name = f"floor-{layer}"
        port = self.ports[name] = free_port()
        argv = [
            sys.executable,
            str(BENCH_DIR / "floor_proxy.py"),
            "--layer",
            layer,
            "--workers",
            str(workers),
            "--listen",
            f"127.0.0.1:{port}",
            "--upstream",
            self.url("static"),
        ]
        service = self.group.start(name, argv)
        wait_listening(port, sockets=workers)
        return service

    def start_gateway(
        self,
        *,
        name: str = "gateway",
        workers: int = 2,
        log_level: str = "WARNING",
        experiments: str = "",
        source: list[Path] | None = None,
    ) -> Service:
        """Start ``multistore-server``; ``experiments`` names what-if patches (see
        ``experiments/sitecustomize.py``) plus ``uvloop``, which makes uvloop importable.
        ``source``: package source directories imported instead of this tree's
        (:func:`export_revision`)."""
        port = self.ports[name] = free_port()
        argv = [
            sys.executable,
            "-m",
            "multistore.server",
            "--config",
            str(self.gateway_config()),
            "--listen",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            log_level,
        ]
        env = dict(os.environ)
        names = [n.strip() for n in experiments.split(",") if n.strip()]
        paths = []
        if "uvloop" in names:
            names.remove("uvloop")
            paths.append(str(uvloop_path(UVLOOP_DIR)))
        if source:
            paths += [str(path) for path in source]
        if names:
            paths.insert(0, str(BENCH_DIR / "experiments"))
            env["MULTISTORE_BENCH_EXPERIMENTS"] = ",".join(names)
        if paths:
            env["PYTHONPATH"] = os.pathsep.join([*paths, *filter(None, [env.get("PYTHONPATH")])])
        service = self.group.start(name, argv, env=env, cwd=self.workdir)
        wait_listening(port, sockets=workers, timeout=60)
        _wait_healthy(f"{self.url(name)}/.multistore/healthz")
        return service


def _wait_healthy(url: str, *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)
