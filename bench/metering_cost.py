"""What ``[metering]`` costs on small anonymous GETs: no metering vs the memory and Redis stores.

Six gateways (one worker each) over the same 1 KiB file, measured with wrk in turn,
interleaved over ``--reps`` rounds in a rotating order; medians of requests per second and of
the CPU time the gateway's process tree spent per request (read from ``/proc``, so the other
engineers' load on the shared cores does not count), and the median over rounds of each
variant's CPU per request against that round's "off" (the paired ratio, which a slow drift
of the machine does not move). Two gateways run without metering: their difference is the
noise floor of the run. Metering runs with a request-rate limit and a byte quota that are
never reached, so every request pays the full check and record; each store runs with a
JSON-lines sink and without one (``sink = "none"``), which separates what the store costs
from what writing usage events costs. Redis is a real ``redis-server`` on 127.0.0.1.

    uv run python bench/metering_cost.py [--reps 3] [--seconds 5] [--connections 32]
                                         [--variants memory,redis-nosink]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from proctree import cpu_seconds, descendants

from multistore.testing.gateway import running_gateway
from multistore.testing.redis_server import running_redis


def _config(root: Path, metering: dict[str, Any] | None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "buckets": [{"name": "public", "backend_type": "file", "anonymous_access": True,
                     "backend_options": {"root": str(root)}}],
    }  # fmt: skip
    if metering is not None:
        config["metering"] = metering
    return config


def _wrk(url: str, seconds: int, connections: int) -> tuple[float, int]:
    """Requests per second and requests completed."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url],
        capture_output=True, text=True, check=True, timeout=seconds + 30,
    ).stdout  # fmt: skip
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert errors is None, out
    done = re.search(r"(\d+) requests in", out)
    assert done, out
    return float(match.group(1)), int(done.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--seconds", type=int, default=5, help="seconds per run (default 5)")
    parser.add_argument("--connections", type=int, default=32, help="wrk -c (default 32)")
    parser.add_argument(
        "--young-gc",
        type=int,
        default=0,
        help="collect the garbage collector's youngest generation every N allocations in "
        "the gateways, as the server's own GC tuning (server/heap.py) does once it lands "
        "(default: Python's 700)",
    )
    parser.add_argument(
        "--variants",
        default="",
        help="comma-separated subset of the variants to run (default: all); 'off' always runs",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        work = Path(tmp)
        root = work / "root"
        root.mkdir()
        (root / "1k.bin").write_bytes(b"k" * 1024)
        redis = stack.enter_context(running_redis(work / "redis"))
        limits = {
            "rate_limits": {"anonymous": {"requests": 10**9, "seconds": 10}},
            "quotas": [{"bucket": "public", "bytes": "1000TiB", "seconds": 86400}],
        }
        jsonl = {"sink": "jsonl", "sink_path": str(work / "usage.jsonl")}
        variants = {
            "off": None,
            # The same configuration twice: how far two identical gateways differ here is
            # the noise floor any other variant's ratio must be read against.
            "off-again": None,
            "memory-nosink": {"store": "memory", "sink": "none", **limits},
            "memory": {"store": "memory", **jsonl, **limits},
            "redis-nosink": {"store": "redis", "redis_url": redis.url, "sink": "none", **limits},
            "redis": {"store": "redis", "redis_url": redis.url, **jsonl, **limits},
        }
        if args.variants:
            wanted = {"off", *(name.strip() for name in args.variants.split(","))}
            unknown = wanted - set(variants)
            if unknown:
                parser.error(f"unknown variants {sorted(unknown)}; known: {list(variants)}")
            variants = {name: value for name, value in variants.items() if name in wanted}
        env = {}
        if args.young_gc:
            patch = work / "young-gc"
            patch.mkdir()
            (patch / "sitecustomize.py").write_text(
                f"import gc\ngc.set_threshold({args.young_gc}, *gc.get_threshold()[1:])\n"
            )
            env["PYTHONPATH"] = str(patch)
        gateways = {
            name: stack.enter_context(
                running_gateway(
                    _config(root, metering), work / name, args=["--log-level", "warning"], env=env
                )
            )
            for name, metering in variants.items()
        }
        assert redis.process is not None
        redis_pid = redis.process.pid
        rates: dict[str, list[float]] = {name: [] for name in variants}
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        redis_cpu: dict[str, list[float]] = {name: [] for name in variants}
        names = list(gateways)
        for round_number in range(args.reps):
            # Rotated: no variant always runs first, or right after a busy neighbour.
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                gateway = gateways[name]
                tree = descendants(gateway.pid)
                before, redis_before = cpu_seconds(tree), cpu_seconds([redis_pid])
                rate, done = _wrk(gateway.url + "/public/1k.bin", args.seconds, args.connections)
                used, redis_used = (
                    cpu_seconds(tree) - before,
                    cpu_seconds([redis_pid]) - redis_before,
                )
                rates[name].append(rate)
                cpu[name].append(used / done * 1e6)
                redis_cpu[name].append(redis_used / done * 1e6)
        base = statistics.median(rates["off"])
        base_cpu = statistics.median(cpu["off"])
        for name, values in rates.items():
            median = statistics.median(values)
            per_request = statistics.median(cpu[name])
            # Each round's CPU per request against the same round's "off": slow drifts of
            # the shared machine cancel out of the ratio.
            paired = statistics.median(
                off / mine for off, mine in zip(cpu["off"], cpu[name], strict=True)
            )
            print(
                f"{name:>15}: {median:8.0f} req/s ({median / base:.3f} of off); "
                f"paired CPU ratio {paired:.3f} (off CPU / this CPU, median of rounds); "
                f"gateway CPU {per_request:5.1f} us/req (+{per_request - base_cpu:4.1f}; "
                f"least {min(cpu[name]):5.1f}), "
                f"redis-server {statistics.median(redis_cpu[name]):4.1f} us/req; "
                f"runs {[round(v) for v in values]} req/s, {[round(v) for v in cpu[name]]} us/req"
            )


if __name__ == "__main__":
    main()
