"""Medians, ratios, target checks and the Markdown table printed at the end of a run."""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scenarios import AB_PREFIX, SCENARIOS

MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class RunResult:
    rep: int
    scenario: str
    target: str
    requests: int
    duration_s: float
    req_per_s: float
    mb_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us_per_req: float | None
    peak_pss_mib: float


def median_of(runs: Sequence[RunResult], scenario: str, target: str) -> dict[str, float] | None:
    mine = [r for r in runs if r.scenario == scenario and r.target == target]
    if not mine:
        return None

    def med(values: list[float | None]) -> float:
        real = [v for v in values if v is not None]
        return statistics.median(real) if real else float("nan")

    return {
        "req_per_s": med([r.req_per_s for r in mine]),
        "mb_per_s": med([r.mb_per_s for r in mine]),
        "p50_ms": med([r.p50_ms for r in mine]),
        "p99_ms": med([r.p99_ms for r in mine]),
        "cpu_us_per_req": med([r.cpu_us_per_req for r in mine]),
        "peak_pss_mib": max(r.peak_pss_mib for r in mine),
        "errors": sum(r.errors for r in mine),
        "runs": len(mine),
    }


def all_medians(runs: Sequence[RunResult]) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    for scenario, target in dict.fromkeys((r.scenario, r.target) for r in runs):
        figures = median_of(runs, scenario, target)
        if figures is not None:
            out.setdefault(scenario, {})[target] = figures
    return out


# --- table ---------------------------------------------------------------------------------

# (label, scenario, gateway target, metric, format)
_ROWS: tuple[tuple[str, str, str, str, str], ...] = (
    ("1 KiB GET c16 req/s — anonymous", "get_1k_c16", "gateway", "req_per_s", "{:,.0f}"),
    ("1 KiB GET c16 req/s — SigV4", "get_1k_c16", "gateway-sigv4", "req_per_s", "{:,.0f}"),
    ("1 KiB GET c16 p50 ms — SigV4", "get_1k_c16", "gateway-sigv4", "p50_ms", "{:.2f}"),
    ("1 KiB GET c16 p99 ms — SigV4", "get_1k_c16", "gateway-sigv4", "p99_ms", "{:.2f}"),
    ("1 KiB GET c64 req/s — anonymous", "get_1k_c64", "gateway", "req_per_s", "{:,.0f}"),
    ("1 KiB GET c64 req/s — SigV4", "get_1k_c64", "gateway-sigv4", "req_per_s", "{:,.0f}"),
    ("1 KiB GET c64 p50 ms — anonymous", "get_1k_c64", "gateway", "p50_ms", "{:.2f}"),
    ("1 KiB GET c64 p99 ms — anonymous", "get_1k_c64", "gateway", "p99_ms", "{:.2f}"),
    ("1 KiB GET c64 p50 ms — SigV4", "get_1k_c64", "gateway-sigv4", "p50_ms", "{:.2f}"),
    ("1 KiB GET c64 p99 ms — SigV4", "get_1k_c64", "gateway-sigv4", "p99_ms", "{:.2f}"),
    ("CPU µs/req, 1 KiB GET c64 — anonymous", "get_1k_c64", "gateway", "cpu_us_per_req", "{:.0f}"),
    (
        "CPU µs/req, 1 KiB GET c64 — SigV4",
        "get_1k_c64",
        "gateway-sigv4",
        "cpu_us_per_req",
        "{:.0f}",
    ),
    ("1 MiB GET c16 MB/s", "get_1m_c16", "gateway", "mb_per_s", "{:,.0f}"),
    ("64 MiB GET c4 MB/s", "get_64m_c4", "gateway", "mb_per_s", "{:,.0f}"),
    (
        "64 MiB PUT c4 MB/s — gateway file backend",
        "put_64m_c4",
        "gateway-file",
        "mb_per_s",
        "{:,.0f}",
    ),
    ("64 MiB PUT c4 MB/s — gateway s3 backend", "put_64m_c4", "gateway-s3", "mb_per_s", "{:,.0f}"),
)


def _fmt(value: float | None, pattern: str) -> str:
    if value is None or value != value:  # NaN
        return "—"
    return pattern.format(value)


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b or a != a or b != b:
        return "—"
    return f"{a / b:.2f}"


def markdown_table(medians: dict[str, dict[str, dict[str, float]]], pss: dict[str, float]) -> str:
    lines = [
        "| measure | nginx proxy_pass | naive proxy | gateway | gateway / nginx "
        "| gateway / naive |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, scenario, gateway_target, metric, pattern in _ROWS:
        figures = medians.get(scenario)
        if not figures or gateway_target not in figures:
            continue

        nginx, naive, gateway = (
            figures[t][metric] if t in figures else None
            for t in ("nginx-proxy", "naive", gateway_target)
        )
        lines.append(
            f"| {label} | {_fmt(nginx, pattern)} | {_fmt(naive, pattern)} | "
            f"{_fmt(gateway, pattern)} | {_ratio(gateway, nginx)} | {_ratio(gateway, naive)} |"
        )
    if pss:
        lines.append(
            f"| PSS MiB, process tree: idle → peak under 64 MiB GET/PUT | "
            f"{_fmt(pss.get('nginx-proxy_idle'), '{:.0f}')} → "
            f"{_fmt(pss.get('nginx-proxy_peak_64m'), '{:.0f}')} | "
            f"{_fmt(pss.get('naive_idle'), '{:.0f}')} → "
            f"{_fmt(pss.get('naive_peak_64m'), '{:.0f}')} | "
            f"{_fmt(pss.get('gateway_idle'), '{:.0f}')} → "
            f"{_fmt(pss.get('gateway_peak_64m'), '{:.0f}')} | | |"
        )
    if "gateway_idle_supervisor" in pss:
        lines.append(
            f"| gateway PSS MiB idle: supervisor / largest worker | | | "
            f"{_fmt(pss.get('gateway_idle_supervisor'), '{:.0f}')} / "
            f"{_fmt(pss.get('gateway_idle_worker_max'), '{:.0f}')} | | |"
        )
    return "\n".join(lines)


# --- targets of issues 5 and 14 ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TargetCheck:
    name: str
    measured: str
    goal: str
    met: bool | None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "measured": self.measured, "goal": self.goal, "met": self.met}


def check_targets(
    medians: dict[str, dict[str, dict[str, float]]], pss: dict[str, float]
) -> list[TargetCheck]:
    def get(scenario: str, target: str, metric: str) -> float | None:
        entry = medians.get(scenario, {}).get(target)
        return entry[metric] if entry else None

    checks: list[TargetCheck] = []

    def ratio_check(
        name: str, a: float | None, b: float | None, goal: float, at_least: bool = True
    ) -> None:
        if a is None or b is None or not b:
            checks.append(TargetCheck(name, "not measured", f"{goal}x", None))
            return
        ratio = a / b
        met = ratio >= goal if at_least else ratio <= goal
        sign = "≥" if at_least else "≤"
        checks.append(TargetCheck(name, f"{ratio:.2f}x", f"{sign} {goal}x", met))

    sigv4_rps = get("get_1k_c64", "gateway-sigv4", "req_per_s")
    ratio_check(
        "1 KiB GET SigV4 c64 req/s vs naive",
        sigv4_rps,
        get("get_1k_c64", "naive", "req_per_s"),
        2.5,
    )
    ratio_check(
        "1 KiB GET SigV4 c64 req/s vs nginx proxy_pass",
        sigv4_rps,
        get("get_1k_c64", "nginx-proxy", "req_per_s"),
        0.3,
    )
    ratio_check(
        "1 KiB GET SigV4 c64 p99 vs nginx proxy_pass",
        get("get_1k_c64", "gateway-sigv4", "p99_ms"),
        get("get_1k_c64", "nginx-proxy", "p99_ms"),
        3.0,
        at_least=False,
    )
    ratio_check(
        "64 MiB GET MB/s vs nginx proxy_pass",
        get("get_64m_c4", "gateway", "mb_per_s"),
        get("get_64m_c4", "nginx-proxy", "mb_per_s"),
        0.9,
    )
    naive_put = get("put_64m_c4", "naive", "mb_per_s")
    ratio_check(
        "64 MiB PUT MB/s (file backend) vs naive",
        get("put_64m_c4", "gateway-file", "mb_per_s"),
        naive_put,
        0.8,
    )
    ratio_check(
        "64 MiB PUT MB/s (s3 backend) vs naive",
        get("put_64m_c4", "gateway-s3", "mb_per_s"),
        naive_put,
        0.8,
    )
    idle, peak = pss.get("gateway_idle"), pss.get("gateway_peak_64m")
    if idle is not None and peak is not None:
        checks.append(
            TargetCheck(
                "peak PSS under 64 MiB workloads minus idle PSS",
                f"{peak - idle:+.0f} MiB",
                "≤ 50 MiB",
                peak - idle <= 50,
            )
        )
    for name, key, goal in (
        ("gateway supervisor PSS idle", "gateway_idle_supervisor", 30),
        ("largest gateway worker PSS idle", "gateway_idle_worker_max", 60),
    ):
        size = pss.get(key)
        if size is not None:
            checks.append(TargetCheck(name, f"{size:.0f} MiB", f"≤ {goal} MiB", size <= goal))
    for target, label in (("gateway-sigv4", "SigV4"), ("gateway", "anonymous")):
        cpu = get("get_1k_c64", target, "cpu_us_per_req")
        if cpu is not None and cpu == cpu:
            checks.append(
                TargetCheck(
                    f"CPU per small GET ({label}, c64)", f"{cpu:.0f} µs", "≤ 130 µs", cpu <= 130
                )
            )
    return checks


def floors_markdown(medians: dict[str, dict[str, dict[str, float]]]) -> str:
    """``--floors``: the 1 KiB rows of every target, floors included, side by side."""
    lines = [
        "| 1 KiB GET | target | req/s | CPU µs/req | req/s / naive | req/s / nginx |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for scenario in ("get_1k_c16", "get_1k_c64"):
        figures = medians.get(scenario, {})
        naive = figures.get("naive", {}).get("req_per_s")
        nginx = figures.get("nginx-proxy", {}).get("req_per_s")
        for target, values in figures.items():
            rate = values.get("req_per_s")
            lines.append(
                f"| {scenario} | {target} | {_fmt(rate, '{:,.0f}')} | "
                f"{_fmt(values.get('cpu_us_per_req'), '{:.0f}')} | "
                f"{_ratio(rate, naive)} | {_ratio(rate, nginx)} |"
            )
    return "\n".join(lines)


def targets_markdown(checks: Sequence[TargetCheck]) -> str:
    lines = ["| target | measured | goal | met |", "|---|---:|---:|:---:|"]
    for check in checks:
        met = "—" if check.met is None else ("yes" if check.met else "**no**")
        lines.append(f"| {check.name} | {check.measured} | {check.goal} | {met} |")
    return "\n".join(lines)


# --- machine -----------------------------------------------------------------------------------


def machine_info() -> dict[str, str]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass

    def version(argv: list[str]) -> str:
        if shutil.which(argv[0]) is None:
            return "missing"
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        return (done.stdout + done.stderr).strip().splitlines()[0]

    import aiohttp

    return {
        "nproc": str(os.cpu_count()),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "aiohttp": aiohttp.__version__,
        "nginx": version(["nginx", "-v"]),
        "wrk": version(["wrk", "-v"]),
    }


def mib(value: float) -> float:
    return value / MIB


def ab_markdown(runs: Sequence[RunResult], patches: str) -> str:
    """Each gateway target against its B twin (the same gateway plus ``patches``).

    Ratios are medians of per-repetition ratios: A and B of one repetition ran back to back,
    so machine drift between repetitions cancels out.
    """
    lines = [
        f"B = A + {patches}; B/A = median over repetitions of the paired ratio",
        "",
        "| scenario / target | req/s A | req/s B | req/s B/A | CPU us/req A | CPU us/req B "
        "| CPU B/A | p99 ms A | p99 ms B |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario in SCENARIOS:
        for target in scenario.targets:
            a_runs = {r.rep: r for r in runs if r.scenario == scenario.key and r.target == target}
            b_runs = {
                r.rep: r
                for r in runs
                if r.scenario == scenario.key and r.target == AB_PREFIX + target
            }
            reps = sorted(a_runs.keys() & b_runs.keys())
            if not reps:
                continue
            a = [a_runs[rep] for rep in reps]
            b = [b_runs[rep] for rep in reps]
            rps = statistics.median(y.req_per_s / x.req_per_s for x, y in zip(a, b, strict=True))
            cpu = statistics.median(
                (y.cpu_us_per_req or 0) / (x.cpu_us_per_req or 1) for x, y in zip(a, b, strict=True)
            )
            lines.append(
                f"| {scenario.title} {target} "
                f"| {statistics.median(r.req_per_s for r in a):,.0f} "
                f"| {statistics.median(r.req_per_s for r in b):,.0f} | {rps:.2f} "
                f"| {statistics.median(r.cpu_us_per_req or 0 for r in a):.0f} "
                f"| {statistics.median(r.cpu_us_per_req or 0 for r in b):.0f} | {cpu:.2f} "
                f"| {statistics.median(r.p99_ms for r in a):.1f} "
                f"| {statistics.median(r.p99_ms for r in b):.1f} |"
            )
    return "\n".join(lines)
