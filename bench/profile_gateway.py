"""Profile the gateway's workers with py-spy under one benchmark workload.

    uv run --with py-spy python bench/profile_gateway.py            # 1 KiB GET, SigV4, c64
    uv run --with py-spy python bench/profile_gateway.py --scenario put_64m_c4 --target gateway-file

Starts nginx (static backend) and the gateway (``--workers 2``), samples every worker with
``py-spy record --format raw`` for the duration of the load, and prints where the CPU time
goes: by component, by function (self), and the gateway's own functions (inclusive). The
raw stacks are kept in ``bench/results/profile-<timestamp>/`` for flame graphs
(``flamegraph.pl`` or https://speedscope.app read them as they are).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from loadgen import run_wrk
from proctree import ServiceGroup, cpu_seconds
from scenarios import SCENARIOS, preflight, prepare_call
from stack import BENCH_DIR, Stack, ensure_tools

# First matching fragment of a frame's file path names the component it belongs to.
COMPONENTS = (
    ("multistore/core/auth", "gateway: auth (SigV4)"),
    ("multistore/core/backends", "gateway: backends"),
    ("multistore/core/s3", "gateway: S3 parsing/dispatch"),
    ("multistore/core/gateway", "gateway: pipeline"),
    ("multistore/core", "gateway: core other"),
    ("multistore/server", "gateway: server runtime"),
    ("multistore/static_config", "gateway: static config"),
    ("aiohttp/client", "aiohttp client"),
    ("aiohttp/connector", "aiohttp client"),
    ("aiohttp/web_", "aiohttp server"),
    ("aiohttp/http_", "aiohttp http parser/writer"),
    ("aiohttp/", "aiohttp other"),
    ("yarl/", "yarl"),
    ("multidict/", "multidict"),
    ("asyncio/", "asyncio event loop"),
    ("uvloop", "uvloop"),
    ("logging/", "logging"),
    ("hmac", "hmac/hashlib"),
    ("hashlib", "hmac/hashlib"),
)


def component_of(frame: str) -> str:
    for fragment, name in COMPONENTS:
        if fragment in frame:
            return name
    return "other"


def parse_raw(lines: Iterable[str]) -> list[tuple[list[str], int]]:
    stacks = []
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if stack and count.isdigit():
            # py-spy writes the thread name first; frames go outermost → innermost.
            frames = stack.split(";")
            if "concurrent/futures/thread.py" in frames[-1]:
                continue  # an idle executor thread waiting for work, not CPU
            stacks.append((frames, int(count)))
    return stacks


def summarise(stacks: list[tuple[list[str], int]], *, top: int) -> str:
    total = sum(count for _, count in stacks) or 1
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    components: Counter[str] = Counter()
    for frames, count in stacks:
        leaf = frames[-1]
        self_time[leaf] += count
        # The innermost frame that is not the event loop's plumbing decides the component.
        components[component_of(leaf)] += count
        for frame in set(frames):
            inclusive[frame] += count
    out = [f"{total} samples", "", "by component (self time of the innermost frame):"]
    for name, count in components.most_common():
        out.append(f"  {100 * count / total:5.1f}%  {name}")
    out += ["", f"top {top} functions by self time:"]
    for frame, count in self_time.most_common(top):
        out.append(f"  {100 * count / total:5.1f}%  {frame}")
    out += ["", "multistore functions by inclusive time:"]
    ours = [(f, c) for f, c in inclusive.most_common() if "multistore/" in f]
    for frame, count in ours[:top]:
        out.append(f"  {100 * count / total:5.1f}%  {frame}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--scenario", default="get_1k_c64", choices=[s.key for s in SCENARIOS])
    parser.add_argument("--connections", type=int, default=None, help="default: the scenario's")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--target",
        default="gateway-sigv4",
        choices=["gateway", "gateway-sigv4", "gateway-file", "gateway-s3"],
    )
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--experiment", default="", help="as in run.py")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        raise SystemExit(
            "py-spy not found: run `uv run --with py-spy python bench/profile_gateway.py`"
        )
    ensure_tools()
    out_dir = BENCH_DIR / "results" / f"profile-{datetime.now():%Y%m%d-%H%M%S}"
    out_dir.mkdir(parents=True)
    workdir = Path(tempfile.mkdtemp(prefix="multistore-profile-"))
    group = ServiceGroup(workdir)
    stack = Stack(workdir=workdir, group=group)
    recorders: list[subprocess.Popen[bytes]] = []
    try:
        scenario = next(s for s in SCENARIOS if s.key == args.scenario)
        if args.target not in scenario.targets:
            raise SystemExit(f"{args.scenario} runs {', '.join(scenario.targets)}")
        connections = args.connections or scenario.connections
        stack.create_objects({scenario.object_name: scenario.size})
        stack.start_static()
        gateway = stack.start_gateway(workers=args.workers, experiments=args.experiment)
        (workdir / "wrk").mkdir()
        call = prepare_call(stack, scenario, args.target, workdir / "wrk")
        preflight(call, scenario)
        run_wrk(call.base_url, call.script, connections=connections, duration=2)  # warm-up
        workers = gateway.tree()[1:] if args.workers > 1 else [gateway.pid]
        workers = [pid for pid in workers if _is_worker(pid)]
        for pid in workers:
            raw = out_dir / f"worker-{pid}.txt"
            recorders.append(
                subprocess.Popen(
                    [
                        py_spy,
                        "record",
                        "--pid",
                        str(pid),
                        "--duration",
                        str(args.seconds + 1),
                        "--rate",
                        str(args.rate),
                        "--format",
                        "raw",
                        "--full-filenames",
                        "--function",
                        "--output",
                        str(raw),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        time.sleep(1.0)
        cpu_before = cpu_seconds(gateway.tree())
        result = run_wrk(call.base_url, call.script, connections=connections, duration=args.seconds)
        cpu_used = cpu_seconds(gateway.tree()) - cpu_before
        for recorder in recorders:
            recorder.wait(timeout=60)
        stacks: list[tuple[list[str], int]] = []
        for raw in out_dir.glob("worker-*.txt"):
            stacks += parse_raw(raw.read_text().splitlines())
        summary = (
            f"{args.target}, {scenario.title}, c{connections}, {args.seconds}s, "
            f"{args.workers} workers"
            f"{', experiments ' + args.experiment if args.experiment else ''} (profiled: py-spy "
            f"at {args.rate} Hz pauses the workers to sample, so figures run lower)\n"
            f"{result.req_per_s:.0f} req/s, p50 {result.p50_ms:.2f} ms, "
            f"p99 {result.p99_ms:.2f} ms, "
            f"errors {result.errors}, CPU {cpu_used / max(result.requests, 1) * 1e6:.0f} µs/req\n\n"
            + summarise(stacks, top=args.top)
        )
        (out_dir / "summary.txt").write_text(summary + "\n")
        print(summary)
        print(f"\nraw stacks and summary in {out_dir}")
    finally:
        for recorder in recorders:
            if recorder.poll() is None:
                recorder.kill()
                recorder.wait()
        group.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _is_worker(pid: int) -> bool:
    # multiprocessing's spawn also starts a resource tracker; only workers run the server.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"resource_tracker" not in cmdline


if __name__ == "__main__":
    sys.exit(main())
