"""What is measured: workloads, the targets each runs against, and how a target is called."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loadgen import write_script
from signing import signed_headers
from stack import BUCKET_FILE, BUCKET_READ, BUCKET_S3_PUT, KIB, MIB, Stack

# A target prefixed with this runs against the second ("B") gateway of an A/B comparison.
AB_PREFIX = "b:"

# Target → the service whose process tree does its work (CPU and RSS are charged to it).
_SERVICES = {
    "nginx-proxy": "nginx-proxy",
    "naive": "naive",
    "gateway": "gateway",
    "gateway-sigv4": "gateway",
    "gateway-file": "gateway",
    "gateway-s3": "gateway",
    "floor-aiohttp": "floor-aiohttp",
    "floor-protocol": "floor-protocol",
}

FLOORS = ("floor-aiohttp", "floor-protocol")
"""``run.py --floors``: bare forwarding proxies on two server layers (``floor_proxy.py``)."""


def service_of(target: str) -> str:
    if target.startswith(AB_PREFIX):
        return "gateway-b"
    return _SERVICES[target]


def ab_pairs(targets: tuple[str, ...]) -> list[tuple[str, str]]:
    """Every gateway target with its B twin (the second gateway, with the patches)."""
    return [(t, AB_PREFIX + t) for t in targets if t.startswith("gateway")]


TARGET_LABELS = {
    "nginx-proxy": "nginx proxy_pass",
    "naive": "naive aiohttp proxy",
    "gateway": "gateway (anonymous)",
    "gateway-sigv4": "gateway (SigV4)",
    "gateway-file": "gateway → file backend (SigV4)",
    "gateway-s3": "gateway → s3 backend → nginx PUT (SigV4)",
    "floor-aiohttp": "floor: aiohttp low-level server + backend client",
    "floor-protocol": "floor: asyncio.Protocol + httptools + backend client",
}


@dataclass(frozen=True, slots=True)
class Scenario:
    key: str
    title: str
    method: str
    object_name: str
    size: int
    connections: int
    targets: tuple[str, ...]

    @property
    def is_throughput(self) -> bool:
        return self.size >= MIB


SCENARIOS = (
    Scenario(
        "get_1k_c16",
        "1 KiB GET c16",
        "GET",
        "1k.bin",
        KIB,
        16,
        ("nginx-proxy", "naive", "gateway", "gateway-sigv4"),
    ),
    Scenario(
        "get_1k_c64",
        "1 KiB GET c64",
        "GET",
        "1k.bin",
        KIB,
        64,
        ("nginx-proxy", "naive", "gateway", "gateway-sigv4"),
    ),
    Scenario(
        "get_1m_c16", "1 MiB GET c16", "GET", "1m.bin", MIB, 16, ("nginx-proxy", "naive", "gateway")
    ),
    Scenario(
        "get_64m_c4",
        "64 MiB GET c4",
        "GET",
        "64m.bin",
        64 * MIB,
        4,
        ("nginx-proxy", "naive", "gateway"),
    ),
    Scenario(
        "put_64m_c4",
        "64 MiB PUT c4",
        "PUT",
        "64m.bin",
        64 * MIB,
        4,
        ("nginx-proxy", "naive", "gateway-file", "gateway-s3"),
    ),
)


@dataclass(frozen=True, slots=True)
class Call:
    base_url: str
    method: str
    path: str
    headers: dict[str, str]
    script: Path


def prepare_call(stack: Stack, scenario: Scenario, target: str, script_dir: Path) -> Call:
    """Write the wrk script for one (scenario, target); signatures are fresh on every call."""
    base_url = stack.url(service_of(target))
    target = target.removeprefix(AB_PREFIX)
    headers: dict[str, str] = {}
    put = scenario.method == "PUT"
    if target in ("nginx-proxy", "naive", *FLOORS):
        path = f"/uploads/{target}.bin" if put else f"/objects/{scenario.object_name}"
    elif target in ("gateway", "gateway-sigv4"):
        path = f"/{BUCKET_READ}/{scenario.object_name}"
    elif target == "gateway-file":
        path = f"/{BUCKET_FILE}/put.bin"
    elif target == "gateway-s3":
        path = f"/{BUCKET_S3_PUT}/gateway.bin"
    else:
        raise ValueError(target)
    if target in ("gateway-sigv4", "gateway-file", "gateway-s3"):
        headers = signed_headers(scenario.method, base_url + path, unsigned_payload=put)
    script = write_script(
        script_dir / f"{scenario.key}-{base_url.rsplit(':', 1)[1]}-{target}.lua",
        method=scenario.method,
        target=path,
        headers=headers,
        body_size=scenario.size if put else 0,
    )
    return Call(base_url, scenario.method, path, headers, script)


def preflight(call: Call, scenario: Scenario) -> None:
    """One request by hand, so a misconfigured target fails loudly instead of benchmarking 4xx."""
    import urllib.error
    import urllib.request

    body = b"x" * KIB if call.method == "PUT" else None
    request = urllib.request.Request(
        call.base_url + call.path, data=body, method=call.method, headers=call.headers
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            received = len(response.read())
    except urllib.error.HTTPError as error:
        detail = error.read()[:500].decode(errors="replace")
        raise RuntimeError(
            f"preflight {call.method} {call.base_url}{call.path}: {error.code} {detail}"
        ) from error
    if call.method == "GET" and received != scenario.size:
        raise RuntimeError(f"{call.base_url}{call.path}: got {received} bytes, not {scenario.size}")
