"""nginx configurations for the benchmark: a static object server and a plain reverse proxy.

Both run in the foreground (``daemon off``) from a private prefix directory, so the runner
owns the master's PID, and neither touches /etc/nginx or /var/log.
"""

from __future__ import annotations

import shutil
from pathlib import Path

_COMMON = """\
daemon off;
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_max_body_size 0;
{body}
}}
"""

_STATIC = """\
    sendfile on;
    tcp_nopush on;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port} reuseport;
        root {root};
        # Static files never look at the query string, so signed or presigned backend
        # requests are served as they are.
        location / {{ }}
        # The PUT sink: WebDAV PUT writes the body to a temp file, then renames it into
        # place, the same work the gateway's file backend does.
        location /uploads/ {{
            dav_methods PUT;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
        }}
    }}
"""

_PROXY = """\
    upstream backend {{
        server 127.0.0.1:{upstream_port};
        keepalive 256;
    }}
    server {{
        listen 127.0.0.1:{port} reuseport;
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # Stream both ways like the gateway does: no spooling of responses to disk and
            # no buffering of whole upload bodies before they go upstream.
            proxy_max_temp_file_size 0;
            proxy_request_buffering off;
{buffers}
        }}
    }}
"""


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        raise FileNotFoundError("nginx is not installed")
    return found


def _write(prefix: Path, body: str, workers: int) -> Path:
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(_COMMON.format(prefix=prefix, workers=workers, body=body))
    return conf


def write_static_config(prefix: Path, *, port: int, root: Path, workers: int = 2) -> Path:
    """Serve ``root`` (objects under ``root/objects/``; PUTs land in ``root/uploads/``)."""
    return _write(prefix, _STATIC.format(port=port, root=root), workers)


# Not the default: nginx's stock 4-8 KiB proxy buffers cost it one syscall pair per 8 KiB
# on large objects; these let it move 256 KiB per call, as the gateway does.
TUNED_BUFFERS = """\
            proxy_buffer_size 256k;
            proxy_buffers 8 256k;
            proxy_busy_buffers_size 512k;"""


def write_proxy_config(
    prefix: Path, *, port: int, upstream_port: int, workers: int = 2, tuned: bool = False
) -> Path:
    """``proxy_pass`` with a keepalive upstream; ``tuned`` adds large proxy buffers."""
    body = _PROXY.format(
        port=port, upstream_port=upstream_port, buffers=TUNED_BUFFERS if tuned else ""
    )
    return _write(prefix, body, workers)


def nginx_argv(prefix: Path, conf: Path) -> list[str]:
    return [nginx_binary(), "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
