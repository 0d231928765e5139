"""Instructions per 1 KiB GET in one server process, counted by valgrind (callgrind).

    uv run python bench/instructions.py                        # gateway (anonymous, SigV4), floor
    uv run python bench/instructions.py --ab-base main         # A = main's packages, B = this tree
    uv run python bench/instructions.py --targets gateway-sigv4 --seconds 20
    uv run python bench/instructions.py --targets gateway,gateway+redis,gateway+redis-jsonl

CPU time on these shared 2-core machines drifts by up to 2x between runs, and an A/B of two
gateways in one run still has a few per cent of noise: too much to price a change worth
3 %. The number of instructions a process executes per request hardly depends on what else
the machine does, so this counts them: each target runs as one process (``--workers 1``;
the floor proxy in-process) under ``valgrind --tool=callgrind``, is warmed up, has its
counters zeroed, serves wrk for ``--seconds``, and has its counters dumped. Only user-space
instructions count (the kernel's share of each send and receive is the same for every
target, see docs/performance.md), and valgrind runs the process about 50 times slower,
so the request rate is low and concurrency small; what is compared is the work per request.

The ``gateway+STORE`` targets are the anonymous gateway with ``[metering]`` on (quotas and
a rate limit that never refuse; ``memory``, ``redis`` or ``redis-jsonl`` with a JSON-lines
sink; Redis is a real ``redis-server`` on 127.0.0.1): the work metering adds per request,
which a throughput A/B on a shared machine cannot resolve (issue 11). Redis's own work runs
in its process and is not counted.

Repeated runs of one target agree within about 1 %. Installs valgrind (Debian) when
missing. Everything started is stopped by PID.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from loadgen import run_wrk
from proctree import ServiceGroup, free_port, wait_listening
from scenarios import SCENARIOS, prepare_call
from stack import BENCH_DIR, KIB, Stack, ensure_tools, export_revision

from multistore.testing.redis_server import running_redis

METERED = ("gateway+memory", "gateway+redis", "gateway+redis-jsonl")
TARGETS = ("gateway", "gateway-sigv4", "floor-aiohttp", *METERED)
_TOTALS = re.compile(r"^(?:summary|totals): (\d+)", re.M)


def metering_section(target: str, workdir: Path, redis_url: str | None) -> dict[str, Any]:
    """``[metering]`` for a ``gateway+STORE`` target: every check runs, none refuses."""
    store = target.removeprefix("gateway+")
    section: dict[str, Any] = {
        "store": "memory" if store == "memory" else "redis",
        "sink": "jsonl" if store.endswith("jsonl") else "none",
        "rate_limits": {"anonymous": {"requests": 10**9, "seconds": 10}},
        "quotas": [{"bucket": "bench", "bytes": "1000TiB", "seconds": 86400}],
    }
    if section["store"] == "redis":
        section["redis_url"] = redis_url
    if section["sink"] == "jsonl":
        section["sink_path"] = str(workdir / f"usage-{target}.jsonl")
    return section


def gateway_config(stack: Stack, target: str, redis_url: str | None) -> Path:
    config = stack.gateway_config_data()
    if target in METERED:
        config["metering"] = metering_section(target, stack.workdir, redis_url)
    path = stack.workdir / f"gateway-{target}.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def server_argv(stack: Stack, target: str, port: int, redis_url: str | None) -> list[str]:
    if target == "floor-aiohttp":
        return [
            sys.executable,
            str(BENCH_DIR / "floor_proxy.py"),
            "--layer",
            "aiohttp",
            "--workers",
            "0",
            "--listen",
            f"127.0.0.1:{port}",
            "--upstream",
            stack.url("static"),
        ]
    return [
        sys.executable,
        "-m",
        "multistore.server",
        "--config",
        str(gateway_config(stack, target, redis_url)),
        "--listen",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--log-level",
        "WARNING",
    ]


def count(
    stack: Stack,
    target: str,
    *,
    seconds: float,
    connections: int,
    source: list[Path] | None,
    redis_url: str | None,
) -> tuple[int, int]:
    """(requests, instructions) of one target's measured run."""
    service = "floor-aiohttp" if target == "floor-aiohttp" else "gateway"
    port = stack.ports[service] = free_port()
    out = stack.workdir / f"callgrind-{target}-{port}.out"
    env = dict(os.environ)
    if source:
        env["PYTHONPATH"] = os.pathsep.join(str(path) for path in source)
    argv = [
        "valgrind",
        "--tool=callgrind",
        "--cache-sim=no",
        f"--callgrind-out-file={out}",
        *server_argv(stack, target, port, redis_url),
    ]
    log = open(stack.workdir / f"{target}-{port}.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(argv, cwd=stack.workdir, env=env, stdout=log, stderr=log)
    try:
        wait_listening(port, timeout=300)
        scenario = next(s for s in SCENARIOS if s.key == "get_1k_c64")
        # The metered targets answer the anonymous GETs.
        call = prepare_call(
            stack, scenario, "gateway" if target in METERED else target, stack.workdir
        )
        run_wrk(call.base_url, call.script, connections=connections, duration=3)  # warm-up
        control = ["callgrind_control"]
        subprocess.run([*control, "--zero", str(process.pid)], check=True, capture_output=True)
        result = run_wrk(call.base_url, call.script, connections=connections, duration=seconds)
        subprocess.run([*control, "--dump", str(process.pid)], check=True, capture_output=True)
        if result.errors:
            raise RuntimeError(f"{target}: {result.errors} failed requests")
        dumps = sorted(stack.workdir.glob(f"{out.name}.*"), key=lambda p: p.stat().st_mtime)
        found = _TOTALS.search(dumps[-1].read_text(errors="replace")) if dumps else None
        if found is None:
            raise RuntimeError(f"{target}: no callgrind dump with totals in {stack.workdir}")
        return result.requests, int(found.group(1))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default=",".join(TARGETS), help=", ".join(TARGETS))
    parser.add_argument("--seconds", type=float, default=10.0, help="measured run per target")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--ab-base", metavar="REV", help="also count git revision REV's gateway")
    parser.add_argument("--reps", type=int, default=1, help="runs per target, interleaved")
    args = parser.parse_args()
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(targets) - set(TARGETS)
    if unknown:
        raise SystemExit(f"unknown targets: {', '.join(sorted(unknown))}")
    ensure_tools(("nginx", "wrk", "valgrind"))
    with (
        tempfile.TemporaryDirectory(prefix="multistore-instructions-") as tmp,
        ExitStack() as services,
    ):
        workdir = Path(tmp)
        (workdir / "logs").mkdir()
        group = ServiceGroup(workdir / "logs")
        stack = Stack(workdir, group)
        try:
            stack.create_objects({"1k.bin": KIB})
            stack.start_static()
            redis_url = None
            if any(target.startswith("gateway+redis") for target in targets):
                (workdir / "redis").mkdir()
                redis_url = services.enter_context(running_redis(workdir / "redis")).url
            base = export_revision(args.ab_base, workdir) if args.ab_base else None
            variants: list[tuple[str, list[Path] | None]] = [("", None)]
            if base is not None:
                variants.insert(0, (f"A ({args.ab_base}) ", base))
                variants[1] = ("B (this tree) ", None)
            figures: dict[str, list[float]] = {}
            for rep in range(args.reps):
                for target in targets:
                    for label, source in variants:
                        if target == "floor-aiohttp":
                            if source is not None:
                                continue  # the floor does not change with the gateway's code
                            label = ""
                        name = f"{label}{target}"
                        requests, instructions = count(
                            stack,
                            target,
                            seconds=args.seconds,
                            connections=args.connections,
                            source=source,
                            redis_url=redis_url,
                        )
                        per_request = instructions / requests
                        figures.setdefault(name, []).append(per_request)
                        print(
                            f"  rep {rep + 1} {name:<32} {requests:6d} requests "
                            f"{per_request:10,.0f} instructions/request",
                            flush=True,
                        )
        finally:
            group.stop_all()
    floor = min(figures.get("floor-aiohttp", [0])) or None
    print(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, best of {args.reps} run(s)\n")
    print("| target | instructions/request | vs floor-aiohttp |")
    print("|---|---:|---:|")
    for name, values in figures.items():
        best = min(values)
        ratio = f"{best / floor:.2f}" if floor else ""
        print(f"| {name} | {best:,.0f} | {ratio} |")


if __name__ == "__main__":
    main()
