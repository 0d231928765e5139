"""Drive wrk with a generated Lua script and read back its figures as JSON."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_MARKER = "WRK_RESULT "

# wrk runs ``done`` once, after all threads finished; latency figures are microseconds.
_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p99_us":%d,' ..
    '"mean_us":%.1f,"max_us":%d}\\n',
    "{marker}", summary.requests, summary.duration, summary.bytes, e.connect, e.read,
    e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(99),
    latency.mean, latency.max))
end
"""


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal here


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    duration_s: float
    bytes_read: int
    errors: int
    p50_ms: float
    p99_ms: float
    mean_ms: float

    @property
    def req_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0


def write_script(
    path: Path,
    *,
    method: str,
    target: str,
    headers: Mapping[str, str],
    body_size: int = 0,
) -> Path:
    lines = [f"wrk.method = {_lua_string(method)}", f"wrk.path = {_lua_string(target)}"]
    for name, value in headers.items():
        lines.append(f"wrk.headers[{_lua_string(name)}] = {_lua_string(value)}")
    if body_size:
        # wrk adds Content-Length from the body; one string per thread, built once.
        lines.append(f'wrk.body = string.rep("x", {body_size})')
    lines.append(_DONE.replace("{marker}", _MARKER))
    path.write_text("\n".join(lines))
    return path


def run_wrk(
    url: str,
    script: Path,
    *,
    connections: int,
    duration: float,
    threads: int = 2,
    timeout: float = 60.0,
) -> WrkResult:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise FileNotFoundError("wrk is not installed")
    argv = [
        wrk,
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",  # wrk takes whole seconds only
        f"--timeout={timeout:g}s",
        "-s",
        str(script),
        url,
    ]
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 120)
    for line in completed.stdout.splitlines():
        if line.startswith(_MARKER):
            raw = json.loads(line[len(_MARKER) :])
            break
    else:
        raise RuntimeError(f"wrk printed no result:\n{completed.stdout}\n{completed.stderr}")
    errors = sum(
        raw[k]
        for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    return WrkResult(
        requests=raw["requests"],
        duration_s=raw["duration_us"] / 1e6,
        bytes_read=raw["bytes"],
        errors=errors,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        mean_ms=raw["mean_us"] / 1000,
    )
