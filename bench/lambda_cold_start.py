"""Cold start of the Lambda handler: import, first answer, warm answer, peak RSS.

Usage: ``uv run python bench/lambda_cold_start.py`` (writes a throwaway config with one
``file`` bucket, answers one ListObjectsV2 twice). Add ``-X importtime`` to see where the
import time goes.
"""

import time

started = time.perf_counter()
started_cpu = time.process_time()

import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402

root = tempfile.mkdtemp()
config = os.path.join(root, "gateway.json")
bucket = {"name": "b", "backend_type": "file", "anonymous_access": True,
          "backend_options": {"root": root}}  # fmt: skip
with open(config, "w") as out:
    json.dump({"buckets": [bucket]}, out)
os.environ["CONFIG_PATH"] = config

from multistore.aws_lambda import handler  # noqa: E402

imported = time.perf_counter()
imported_cpu = time.process_time()
event = {
    "version": "2.0", "rawPath": "/b", "rawQueryString": "list-type=2",
    "headers": {"host": "localhost"},
    "requestContext": {"http": {"method": "GET", "sourceIp": "127.0.0.1"}},
    "isBase64Encoded": False, "body": "",
}  # fmt: skip
answer = handler(event, None)
first = time.perf_counter()
first_cpu = time.process_time()
handler(event, None)
warm = time.perf_counter()
print(
    json.dumps(
        {
            "status": answer["statusCode"],
            "import_ms": round((imported - started) * 1000, 1),
            "import_cpu_ms": round((imported_cpu - started_cpu) * 1000, 1),
            "first_answer_ms": round((first - started) * 1000, 1),
            # CPU time barely moves with other load on the machine; wall time does.
            "first_answer_cpu_ms": round((first_cpu - started_cpu) * 1000, 1),
            "warm_answer_ms": round((warm - first) * 1000, 2),
            "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
    )
)
