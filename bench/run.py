"""The gateway against nginx proxy_pass and a naive aiohttp proxy, on this machine.

    uv run python bench/run.py            # full run: 3 interleaved repetitions, ~7 minutes
    uv run python bench/run.py --quick    # smoke run: 1 repetition, short durations

Installs nginx and wrk (Debian) when missing, starts every service on 127.0.0.1 with free
ports, loads each with wrk, prints a Markdown table of medians and ratios and writes the raw
figures to bench/results/<timestamp>.json. Everything started is stopped by PID, also on
Ctrl-C or failure. docs/performance.md says what each row means.

A/B mode prices a proposed change: ``--ab NAME`` starts a second gateway with that
what-if patch (bench/experiments/) and runs it interleaved with the unpatched one;
``--ab-base REV`` runs git revision REV as gateway A and this working tree as B.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from loadgen import run_wrk
from proctree import MemorySampler, Service, ServiceGroup, cpu_seconds, pss_by_process
from report import (
    RunResult,
    ab_markdown,
    all_medians,
    check_targets,
    floors_markdown,
    machine_info,
    markdown_table,
    mib,
    targets_markdown,
)
from scenarios import FLOORS, SCENARIOS, Scenario, ab_pairs, preflight, prepare_call, service_of
from stack import BENCH_DIR, MIB, Stack, ensure_tools, export_revision

RESULTS_DIR = BENCH_DIR / "results"
EXPERIMENTS_HELP = "uvloop (see bench/experiments/)"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1 repetition, short runs")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 3)")
    parser.add_argument(
        "--duration",
        type=int,
        default=None,
        help="seconds per run (default 5; 64 MiB runs take 1.6 times as long)",
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated scenarios: " + ", ".join(s.key for s in SCENARIOS),
    )
    parser.add_argument("--workers", type=int, default=2, help="gateway --workers (default 2)")
    parser.add_argument(
        "--log-level",
        default="WARNING",
        help="gateway --log-level (default WARNING; INFO adds the access log line)",
    )
    parser.add_argument(
        "--experiment", default="", help="what-if patches for the gateway: " + EXPERIMENTS_HELP
    )
    parser.add_argument(
        "--ab", default="", help="also run a second gateway with these patches, interleaved"
    )
    parser.add_argument(
        "--ab-base",
        default="",
        metavar="REV",
        help="A/B against a git revision: A runs REV's packages, B this working tree",
    )
    parser.add_argument(
        "--nginx-tuned",
        action="store_true",
        help="give nginx proxy_pass 256 KiB proxy buffers instead of its stock 4-8 KiB",
    )
    parser.add_argument(
        "--floors",
        action="store_true",
        help="add the 1 KiB GET floors: bare forwarding proxies on aiohttp's server and on "
        "an asyncio.Protocol (floor_proxy.py), both with the gateway's backend client",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory and logs")
    parser.add_argument("--no-json", action="store_true", help="write no bench/results/*.json")
    return parser.parse_args(argv)


def _raise_interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def measure(
    scenario: Scenario,
    target: str,
    stack: Stack,
    services: dict[str, Service],
    samplers: dict[str, MemorySampler],
    script_dir: Path,
    *,
    duration: int,
    rep: int,
) -> RunResult:
    call = prepare_call(stack, scenario, target, script_dir)
    service_name = service_of(target)
    pids = services[service_name].tree()
    sampler = samplers[service_name]
    sampler.reset_peak()
    cpu_before = cpu_seconds(pids)
    result = run_wrk(
        call.base_url, call.script, connections=scenario.connections, duration=duration
    )
    cpu_used = cpu_seconds(pids) - cpu_before
    peak = sampler.peak()
    # wrk counts only response bytes, so an upload moved what its completed requests sent.
    moved = result.requests * scenario.size if scenario.method == "PUT" else result.bytes_read
    return RunResult(
        rep=rep,
        scenario=scenario.key,
        target=target,
        requests=result.requests,
        duration_s=result.duration_s,
        req_per_s=result.req_per_s,
        mb_per_s=moved / result.duration_s / 1e6 if result.duration_s else 0.0,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        errors=result.errors,
        cpu_us_per_req=cpu_used / result.requests * 1e6 if result.requests else None,
        peak_pss_mib=mib(peak),
    )


def _print_run(run: RunResult) -> None:
    rate = f"{run.mb_per_s:8.0f} MB/s" if run.mb_per_s > 50 else f"{run.req_per_s:8.0f} req/s"
    cpu = f"{run.cpu_us_per_req:7.0f} us/req" if run.cpu_us_per_req is not None else ""
    errors = f"  ERRORS={run.errors}" if run.errors else ""
    print(
        f"  rep {run.rep} {run.scenario:<11} {run.target:<16} {rate}"
        f"  p50 {run.p50_ms:7.2f} ms  p99 {run.p99_ms:7.2f} ms  {cpu}"
        f"  pss {run.peak_pss_mib:5.0f} MiB{errors}",
        flush=True,
    )


def run_order(targets: tuple[str, ...], rep: int, *, ab: bool) -> tuple[str, ...]:
    """Rotate the order each repetition so no target always runs first or last.

    In A/B mode the targets are (A, B) pairs that stay adjacent, so each B is compared with
    an A measured seconds apart, and which of the two goes first alternates.
    """
    if not ab:
        shift = rep % len(targets)
        return targets[shift:] + targets[:shift]
    pairs = [targets[i : i + 2] for i in range(0, len(targets), 2)]
    shift = rep % len(pairs)
    pairs = pairs[shift:] + pairs[:shift]
    return tuple(t for pair in pairs for t in (pair if rep % 2 == 0 else pair[::-1]))


def start_services(args: argparse.Namespace, stack: Stack) -> dict[str, Service]:
    print("starting nginx (static + proxy_pass), naive proxy and gateway …", flush=True)
    stack.create_objects()
    stack.start_static()
    services: dict[str, Service] = {}
    if not args.ab:  # an A/B run compares the gateway with itself only
        services["nginx-proxy"] = stack.start_nginx_proxy(tuned=args.nginx_tuned)
        services["naive"] = stack.start_naive()
    if args.floors:
        for target in FLOORS:
            services[target] = stack.start_floor(
                target.removeprefix("floor-"), workers=args.workers
            )
    services["gateway"] = stack.start_gateway(
        workers=args.workers,
        log_level=args.log_level,
        experiments=args.experiment,
        source=export_revision(args.ab_base, stack.workdir) if args.ab_base else None,
    )
    if args.ab:
        services["gateway-b"] = stack.start_gateway(
            name="gateway-b",
            workers=args.workers,
            log_level=args.log_level,
            # With --ab-base, B is this tree as it is; otherwise A plus the --ab patches.
            experiments=",".join(filter(None, [args.experiment, "" if args.ab_base else args.ab])),
        )
    return services


def run_benchmark(args: argparse.Namespace, stack: Stack, workdir: Path) -> dict[str, object]:
    reps = args.reps or (1 if args.quick else 3)
    base = args.duration or (2 if args.quick else 5)
    wanted = {key.strip() for key in args.only.split(",") if key.strip()}
    scenarios = [s for s in SCENARIOS if not wanted or s.key in wanted]
    if wanted - {s.key for s in scenarios}:
        raise SystemExit(f"unknown scenario in --only: {', '.join(sorted(wanted))}")
    plan = [
        (s, tuple(t for pair in ab_pairs(s.targets) for t in pair) if args.ab else s.targets)
        for s in scenarios
    ]
    if args.floors:
        plan = [(s, targets + FLOORS if s.size < MIB else targets) for s, targets in plan]

    services = start_services(args, stack)
    samplers = {name: MemorySampler(service.pid).start() for name, service in services.items()}
    script_dir = workdir / "wrk"
    script_dir.mkdir()
    pss: dict[str, float] = {}
    runs: list[RunResult] = []
    try:
        for scenario, targets in plan:
            for target in targets:
                preflight(prepare_call(stack, scenario, target, script_dir), scenario)
        # Warm up on small objects only, then take the idle PSS: connection pools and lazy
        # imports exist, and nothing large has passed through yet.
        print("warming up …", flush=True)
        for scenario, targets in plan:
            if scenario.size < MIB:
                for target in targets:
                    measure(
                        scenario, target, stack, services, samplers, script_dir, duration=1, rep=-1
                    )
        time.sleep(1.0)
        for name, sampler in samplers.items():
            pss[f"{name}_idle"] = mib(sampler.current())
        pss.update(gateway_footprint(services["gateway"].pid))
        for rep in range(reps):
            print(f"repetition {rep + 1}/{reps}", flush=True)
            for scenario, targets in plan:
                duration = round(base * (1.6 if scenario.size >= 64 * MIB else 1.0))
                for target in run_order(targets, rep, ab=bool(args.ab)):
                    run = measure(
                        scenario,
                        target,
                        stack,
                        services,
                        samplers,
                        script_dir,
                        duration=duration,
                        rep=rep,
                    )
                    runs.append(run)
                    _print_run(run)
                    time.sleep(0.3)
        stack.group.check_alive()
    finally:
        for sampler in samplers.values():
            sampler.stop()
    for name in services:
        big = [
            r.peak_pss_mib
            for r in runs
            if service_of(r.target) == name and r.scenario.startswith(("get_64m", "put_64m"))
        ]
        if big:
            pss[f"{name}_peak_64m"] = max(big)
    medians = all_medians(runs)
    checks = check_targets(medians, pss)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "settings": {
            "reps": reps,
            "duration_s": base,
            "gateway_workers": args.workers,
            "gateway_log_level": args.log_level,
            "experiments": args.experiment,
            "ab": args.ab,
            "nginx_tuned": bool(args.nginx_tuned),
            "quick": bool(args.quick),
        },
        "scenarios": [
            {
                "key": s.key,
                "title": s.title,
                "method": s.method,
                "object_bytes": s.size,
                "connections": s.connections,
                "targets": list(targets),
            }
            for s, targets in plan
        ],
        "runs": [asdict(run) for run in runs],
        "medians": medians,
        "pss_mib": pss,
        "targets": [check.as_dict() for check in checks],
        "table_markdown": markdown_table(medians, pss),
        "targets_markdown": targets_markdown(checks),
        "ab_markdown": ab_markdown(runs, args.ab) if args.ab else "",
        "floors_markdown": floors_markdown(medians) if args.floors else "",
        "failed_requests": sum(run.errors for run in runs),
    }


def gateway_footprint(root: int) -> dict[str, float]:
    """Idle PSS of the gateway's supervisor and of its largest worker."""
    per_process = pss_by_process(root)
    workers = [size for pid, size in per_process.items() if pid != root]
    footprint = {"gateway_idle_supervisor": mib(per_process.get(root, 0))}
    if workers:
        footprint["gateway_idle_worker_max"] = mib(max(workers))
    return footprint


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.ab_base and not args.ab:
        args.ab = f"this tree's changes since {args.ab_base}"
    ensure_tools()
    workdir = Path(tempfile.mkdtemp(prefix="multistore-bench-"))
    group = ServiceGroup(workdir)
    stack = Stack(workdir=workdir, group=group)
    # SIGINT too: a shell starts background jobs with SIGINT ignored.
    previous = {
        sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        report = run_benchmark(args, stack, workdir)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping services", file=sys.stderr)
        return 130
    finally:
        group.stop_all()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if args.keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    machine = report["machine"]
    assert isinstance(machine, dict)
    print(
        f"\n{report['date']}: {machine['nproc']} CPUs ({machine['cpu_model']}), "
        f"Python {machine['python']}, aiohttp {machine['aiohttp']}, {machine['nginx']}"
    )
    if args.ab:
        print(report["ab_markdown"])
    else:
        print(report["table_markdown"], end="\n\n")
        print(report["targets_markdown"])
        if report["floors_markdown"]:
            print("\n" + str(report["floors_markdown"]))
    if not args.no_json:
        RESULTS_DIR.mkdir(exist_ok=True)
        suffix = "-quick" if args.quick else ""
        path = RESULTS_DIR / f"{datetime.now():%Y%m%d-%H%M%S}{suffix}.json"
        path.write_text(json.dumps(report, indent=2))
        print(f"\nwrote {path}")
    failed = report["failed_requests"]
    if failed:
        print(f"warning: {failed} failed requests; the figures are suspect", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
