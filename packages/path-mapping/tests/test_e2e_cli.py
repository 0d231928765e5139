"""aws-cli at account, product and sub-prefix level, and DeleteObjects across products.

Account ``tree`` has product ``a`` on moto and product ``b`` on a file root. aws-cli sees one
bucket ``tree``: it lists it, syncs into it and deletes from it with DeleteObjects whose keys
span both products.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from multistore.testing.aws_cli import run_aws_cli
from multistore.testing.gateway import GatewayProcess

from .conftest import CLIMATE, FULL, Stores

TREE = {
    "a/x.txt": b"x" * 10,
    "a/sub/y.txt": b"y" * 2000,
    "a/sub/deeper/100%.txt": b"percent",
    "b/z.txt": b"z",
    "b/deep/w w.txt": b"with a space",
    "b/ünï/cödé.txt": b"unicode",
}


def aws(gateway: GatewayProcess, *args: str, cwd: Path, key: tuple[str, str] = FULL) -> str:
    done = run_aws_cli(gateway, *args, credentials=key, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def read_tree(root: Path) -> dict[str, bytes]:
    found = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath, name)
            found[str(path.relative_to(root))] = path.read_bytes()
    return found


def listed_names(output: str) -> list[str]:
    # ``aws s3 ls`` lines: "                           PRE a/" or "date time size name".
    return [line.split(maxsplit=3)[-1] if "PRE" not in line else line.split()[-1]
            for line in output.splitlines() if line.strip()]  # fmt: skip


def test_aws_cli_at_account_product_and_sub_prefix_level(
    gateway: GatewayProcess, stores: Stores, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    write_tree(source, TREE)
    aws(gateway, "s3", "sync", str(source), "s3://tree/", cwd=tmp_path)
    assert stores.keys("tree--a") == {"x.txt", "sub/y.txt", "sub/deeper/100%.txt"}
    assert stores.keys("tree--b") == {"z.txt", "deep/w w.txt", "ünï/cödé.txt"}

    assert listed_names(aws(gateway, "s3", "ls", "s3://tree/", cwd=tmp_path)) == ["a/", "b/"]
    assert listed_names(aws(gateway, "s3", "ls", "s3://tree/a/", cwd=tmp_path)) == [
        "sub/",
        "x.txt",
    ]
    recursive = aws(gateway, "s3", "ls", "--recursive", "s3://tree/", cwd=tmp_path)
    assert listed_names(recursive) == sorted(TREE)

    # Everything back, from the account and from a sub-prefix.
    aws(gateway, "s3", "cp", "--recursive", "s3://tree/", str(tmp_path / "all"), cwd=tmp_path)
    assert read_tree(tmp_path / "all") == TREE
    aws(gateway, "s3", "sync", "s3://tree/a/sub/", str(tmp_path / "sub"), cwd=tmp_path)
    assert read_tree(tmp_path / "sub") == {
        "y.txt": TREE["a/sub/y.txt"],
        "deeper/100%.txt": b"percent",
    }

    # Copy between products (moto → file, streamed by the gateway).
    aws(gateway, "s3", "cp", "s3://tree/a/x.txt", "s3://tree/b/from-a.txt", cwd=tmp_path)
    assert stores.read("tree--b", "from-a.txt") == TREE["a/x.txt"]

    # rm at sub-prefix, product and account level (DeleteObjects across products).
    aws(gateway, "s3", "rm", "--recursive", "s3://tree/a/sub/", cwd=tmp_path)
    assert stores.keys("tree--a") == {"x.txt"}
    aws(gateway, "s3", "rm", "--recursive", "s3://tree/b/", cwd=tmp_path)
    assert stores.keys("tree--b") == set()
    aws(gateway, "s3", "sync", str(source), "s3://tree/", cwd=tmp_path)  # a/sub and b again
    removed = aws(gateway, "s3", "rm", "--recursive", "s3://tree/", cwd=tmp_path)
    assert "delete: s3://tree/a/sub/y.txt" in removed
    assert "delete: s3://tree/b/z.txt" in removed
    assert stores.keys("tree--a") == set()
    assert stores.keys("tree--b") == set()


def test_aws_cli_with_a_key_scoped_to_one_product(
    gateway: GatewayProcess, stores: Stores, tmp_path: Path
) -> None:
    (tmp_path / "f.txt").write_bytes(b"scoped")
    aws(
        gateway,
        "s3",
        "cp",
        "f.txt",
        "s3://acme/climate/cli-scoped/f.txt",
        cwd=tmp_path,
        key=CLIMATE,
    )
    assert stores.read("acme--climate", "cli-scoped/f.txt") == b"scoped"
    listing = aws(gateway, "s3", "ls", "s3://acme/", cwd=tmp_path, key=CLIMATE)
    assert listed_names(listing) == ["climate/"]
    refused = run_aws_cli(
        gateway, "s3", "cp", "f.txt", "s3://acme/weather/f.txt", credentials=CLIMATE, cwd=tmp_path
    )
    assert refused.returncode != 0
    assert "AccessDenied" in refused.stderr


def test_batch_delete_splits_keys_by_product(
    gateway: GatewayProcess, full: Any, stores: Stores
) -> None:
    keys = ["climate/batch/1.txt", "weather/batch/2 two.txt", "climate/batch/3%.txt"]
    for key in keys:
        full.put_object(Bucket="acme", Key=key, Body=b"d")
    request = [*keys, "no-product", "nothing/here.txt", "weather/batch/never-existed.txt"]
    result = full.delete_objects(
        Bucket="acme", Delete={"Objects": [{"Key": key} for key in request]}
    )
    assert sorted(d["Key"] for d in result["Deleted"]) == sorted(
        [*keys, "weather/batch/never-existed.txt"]
    )
    assert sorted((e["Key"], e["Code"]) for e in result["Errors"]) == [
        ("no-product", "AccessDenied"),
        ("nothing/here.txt", "AccessDenied"),
    ]
    assert not {"batch/1.txt", "batch/3%.txt"} & stores.keys("acme--climate")
    assert "batch/2 two.txt" not in stores.keys("acme--weather")

    # A key scoped to one product deletes there and is refused, key by key, elsewhere.
    full.put_object(Bucket="acme", Key="climate/batch/mine.txt", Body=b"m")
    full.put_object(Bucket="acme", Key="weather/batch/theirs.txt", Body=b"t")
    climate = gateway.client(*CLIMATE)
    scoped = climate.delete_objects(
        Bucket="acme",
        Delete={
            "Objects": [{"Key": "climate/batch/mine.txt"}, {"Key": "weather/batch/theirs.txt"}]
        },
    )
    assert [d["Key"] for d in scoped["Deleted"]] == ["climate/batch/mine.txt"]
    assert [(e["Key"], e["Code"]) for e in scoped["Errors"]] == [
        ("weather/batch/theirs.txt", "AccessDenied")
    ]
    assert "batch/theirs.txt" in stores.keys("acme--weather")
