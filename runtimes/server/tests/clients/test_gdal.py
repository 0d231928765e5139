"""GDAL's /vsis3/ (Debian gdal-bin) over HTTP: ListObjects V1 on open, ranged reads of a tiled
GeoTIFF (gdalinfo -checksum), sequential uploads, deletes."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from .conftest import Target, assert_ok, clean_env, file_sha256, payload, sha256

pytestmark = pytest.mark.timeout(600)  # the first test may install gdal-bin


class Gdal:
    def __init__(self, tools: str, target: Target, workdir: Path) -> None:
        self.tools, self.workdir = Path(tools), workdir
        self.env = clean_env(
            AWS_S3_ENDPOINT=target.http.url.removeprefix("http://"),
            AWS_VIRTUAL_HOSTING="FALSE",  # GDAL defaults to virtual-hosted addressing
            AWS_HTTPS="NO",
            CPL_VSIL_USE_TEMP_FILE_FOR_RANDOM_WRITE="YES",
            GDAL_PAM_ENABLED="NO",  # no .aux.xml side files written next to the object
            GDAL_HTTP_MAX_RETRY="0",
        )
        self.prefix = f"/vsis3/{target.bucket}/"

    def run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.tools / tool), *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def ok(self, tool: str, *args: str) -> str:
        result = self.run(tool, *args)
        assert_ok(result)
        return result.stdout


def make_geotiff(gdal: Gdal, name: str, seed: int) -> Path:
    """A 512x512 single-band tiled GeoTIFF of random bytes (converted from raw ENVI data)."""
    raw = gdal.workdir / f"{name}.bin"
    raw.write_bytes(payload(512 * 512, seed))
    raw.with_suffix(".hdr").write_text(
        "ENVI\nsamples = 512\nlines = 512\nbands = 1\nheader offset = 0\n"
        "data type = 1\ninterleave = bsq\nbyte order = 0\n"
    )
    tif = gdal.workdir / f"{name}.tif"
    gdal.ok(
        "gdal_translate", "-q", "-of", "GTiff", "-a_srs", "EPSG:4326",
        "-a_ullr", "0", "1", "1", "0", "-co", "TILED=YES", str(raw), str(tif),
    )  # fmt: skip
    return tif


def checksum(info: str) -> str:
    found = re.search(r"Checksum=(\d+)", info)
    assert found, info
    return found.group(1)


def test_gdal_geotiff_round_trip(target: Target, gdal_tools: str, tmp_path: Path) -> None:
    gdal = Gdal(gdal_tools, target, tmp_path)
    first, second = make_geotiff(gdal, "first", 50), make_geotiff(gdal, "second", 51)
    key = target.key("gdal/dem.tif")
    remote = f"{gdal.prefix}{key}"

    # gdalmanage copy moves the file's bytes (a sequential PUT), not a re-encoding.
    gdal.ok("gdalmanage", "copy", str(first), remote)
    assert sha256(target.stored(key) or b"") == file_sha256(first)

    # gdalinfo lists the folder (V1, delimiter=/), then reads header and tiles by range.
    info = gdal.ok("gdalinfo", "-checksum", remote)
    assert "Driver: GTiff/GeoTIFF" in info
    assert "Size is 512, 512" in info
    assert checksum(info) == checksum(gdal.ok("gdalinfo", "-checksum", str(first)))

    listed = gdal.ok("gdalmanage", "identify", "-r", f"{gdal.prefix}{target.key('gdal')}")
    assert f"{remote}: GTiff" in listed

    back = tmp_path / "back.tif"
    gdal.ok("gdalmanage", "copy", remote, str(back))
    assert file_sha256(back) == file_sha256(first)

    gdal.ok("gdalmanage", "copy", str(second), remote)
    assert sha256(target.stored(key) or b"") == file_sha256(second)
    assert checksum(gdal.ok("gdalinfo", "-checksum", remote)) == checksum(
        gdal.ok("gdalinfo", "-checksum", str(second))
    )

    gdal.ok("gdalmanage", "delete", remote)
    assert target.stored(key) is None
    assert gdal.run("gdalinfo", remote).returncode != 0
