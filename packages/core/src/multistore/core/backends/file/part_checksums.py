"""Checksums of multipart uploads on the file backend, by S3's rules.

An upload may name a checksum algorithm (``x-amz-checksum-algorithm``) and type
(``x-amz-checksum-type``) when it is created. Every part then has a checksum of that
algorithm — sent by the client or computed by the backend — and the object's checksum is
either COMPOSITE (the checksum of the parts' binary checksums, shown with ``-<parts>``) or
FULL_OBJECT (the checksum of the whole object, computed while assembling it). S3's defaults
apply: CRC64NVME is full-object only, the others composite unless asked; SHA1/SHA256 cannot
be full-object. A checksum the client sends with CompleteMultipartUpload must match.
"""

from __future__ import annotations

import base64
import re

from multistore.core.auth.checksums import (
    Checksum,
    ChecksumAlgorithm,
    checksum_from_headers,
    decode_checksum_value,
    new_checksum,
)
from multistore.core.backends.file.uploads import PartRecord, UploadManifest
from multistore.core.errors import BadDigest, InvalidRequest
from multistore.core.http import Headers

COMPOSITE, FULL_OBJECT = "COMPOSITE", "FULL_OBJECT"
_COMPOSITE_VALUE = re.compile(r".+-[0-9]+")


def checksum_choice(headers: Headers) -> tuple[ChecksumAlgorithm | None, str | None]:
    """The upload's checksum algorithm and type, with the combinations S3 refuses refused."""
    raw_algorithm = headers.get("x-amz-checksum-algorithm", "").strip().upper()
    raw_type = headers.get("x-amz-checksum-type", "").strip().upper()
    if not raw_algorithm:
        return None, None  # a type without an algorithm describes nothing
    try:
        algorithm = ChecksumAlgorithm(raw_algorithm)
    except ValueError:
        raise InvalidRequest("Value for x-amz-checksum-algorithm header is invalid.") from None
    if raw_type and raw_type not in (COMPOSITE, FULL_OBJECT):
        raise InvalidRequest("Value for x-amz-checksum-type header is invalid.")
    # S3's defaults: CRC64NVME exists only as a full-object checksum, the others composite.
    crc64 = algorithm is ChecksumAlgorithm.CRC64NVME
    checksum_type = raw_type or (FULL_OBJECT if crc64 else COMPOSITE)
    if checksum_type == FULL_OBJECT and algorithm.value.startswith("SHA"):
        raise InvalidRequest(f"The FULL_OBJECT checksum type cannot be used with {raw_algorithm}.")
    if checksum_type == COMPOSITE and crc64:
        raise InvalidRequest("The COMPOSITE checksum type cannot be used with CRC64NVME.")
    return algorithm, checksum_type


def supplied_checksum(
    headers: Headers, algorithm: ChecksumAlgorithm | None
) -> dict[ChecksumAlgorithm, str]:
    """The part's ``x-amz-checksum-*`` header (already verified by the gateway), if any."""
    found = checksum_from_headers(headers)
    if found is None:
        return {}
    supplied, value = found
    if algorithm is not None and supplied is not algorithm:
        raise InvalidRequest(
            f"Checksum Type mismatch occurred, expected checksum Type: {algorithm.value.lower()}, "
            f"actual checksum Type: {supplied.value.lower()}"
        )
    decode_checksum_value(supplied, value)
    return {supplied: value}


def algorithm_of_element(element: str) -> ChecksumAlgorithm | None:
    """``ChecksumCRC32`` (a CompleteMultipartUpload element) → CRC32."""
    try:
        return ChecksumAlgorithm(element.removeprefix("Checksum").upper())
    except ValueError:
        return None


def full_object_checksum(
    manifest: UploadManifest, headers: Headers
) -> tuple[ChecksumAlgorithm, str | None] | None:
    """The checksum to compute over the assembled object, and the value the client expects."""
    claimed = checksum_from_headers(headers)
    if claimed is not None and not _COMPOSITE_VALUE.fullmatch(claimed[1]):
        return claimed
    if manifest.checksum_algorithm is not None and manifest.checksum_type == FULL_OBJECT:
        return manifest.checksum_algorithm, None
    return None


def object_checksum(
    manifest: UploadManifest,
    records: list[PartRecord],
    headers: Headers,
    full_object: tuple[Checksum, tuple[ChecksumAlgorithm, str | None]] | None,
) -> dict[str, str]:
    """Response headers naming the object's checksum; ``BadDigest`` if the client's differs."""
    if full_object is not None:
        running, (algorithm, expected) = full_object
        value, checksum_type = running.base64_digest(), FULL_OBJECT
    else:
        algorithm_or_none = manifest.checksum_algorithm
        if algorithm_or_none is None or any(
            algorithm_or_none not in record.checksums for record in records
        ):
            return {}
        algorithm = algorithm_or_none
        combined = new_checksum(algorithm)
        for record in records:
            combined.update(base64.b64decode(record.checksums[algorithm]))
        value, checksum_type = f"{combined.base64_digest()}-{len(records)}", COMPOSITE
        claimed = checksum_from_headers(headers)
        expected = claimed[1] if claimed is not None and claimed[0] is algorithm else None
    if expected is not None and value != expected:
        raise BadDigest(f"the object's {algorithm.value} checksum is {value}, not {expected}")
    return {algorithm.header_name: value, "x-amz-checksum-type": checksum_type}
