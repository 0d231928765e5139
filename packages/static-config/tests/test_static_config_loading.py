"""Reading config files and strings: format by suffix, decode errors, upstream files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from multistore.core.config import AccessScope, Action
from multistore.static_config import ConfigError, from_json, from_toml, load_config

EQUIVALENT_TOML = """
owner_id = "owner-1"
owner_display_name = "Owner One"

[[buckets]]
name = "public"
backend_type = "s3"
backend_prefix = "mirror/"
anonymous_access = true
allowed_roles = ["ci"]
[buckets.backend_options]
endpoint = "http://127.0.0.1:9000"
bucket_name = "real"
skip_signature = "true"

[[roles]]
role_id = "ci"
name = "CI"
trusted_oidc_issuers = ["https://token.actions.githubusercontent.com"]
required_audiences = "sts.amazonaws.com"
subject_conditions = ["repo:org/*"]
max_session_duration_secs = 7200
[[roles.allowed_scopes]]
bucket = "public"
prefixes = ["{sub}/"]
actions = ["put_object", "get_object"]

[[credentials]]
access_key_id = "AKIDEXAMPLE"
secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
principal_name = "alice"
created_at = "2024-01-01T00:00:00Z"
expires_at = "2030-01-01T00:00:00Z"
enabled = false
[[credentials.allowed_scopes]]
bucket = "*"
prefixes = []
actions = ["list_bucket"]

[server]
listen = "127.0.0.1:8080"
"""

EQUIVALENT_JSON = {
    "owner_id": "owner-1",
    "owner_display_name": "Owner One",
    "buckets": [
        {
            "name": "public",
            "backend_type": "s3",
            "backend_prefix": "mirror/",
            "anonymous_access": True,
            "allowed_roles": ["ci"],
            "backend_options": {
                "endpoint": "http://127.0.0.1:9000",
                "bucket_name": "real",
                "skip_signature": "true",
            },
        }
    ],
    "roles": [
        {
            "role_id": "ci",
            "name": "CI",
            "trusted_oidc_issuers": ["https://token.actions.githubusercontent.com"],
            "required_audiences": "sts.amazonaws.com",
            "subject_conditions": ["repo:org/*"],
            "max_session_duration_secs": 7200,
            "allowed_scopes": [
                {
                    "bucket": "public",
                    "prefixes": ["{sub}/"],
                    "actions": ["put_object", "get_object"],
                }
            ],
        }
    ],
    "credentials": [
        {
            "access_key_id": "AKIDEXAMPLE",
            "secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "principal_name": "alice",
            "created_at": "2024-01-01T00:00:00Z",
            "expires_at": "2030-01-01T00:00:00Z",
            "enabled": False,
            "allowed_scopes": [{"bucket": "*", "prefixes": [], "actions": ["list_bucket"]}],
        }
    ],
    "server": {"listen": "127.0.0.1:8080"},
}


def test_json_and_toml_forms_load_to_the_same_config() -> None:
    from_text_toml = from_toml(EQUIVALENT_TOML)
    from_text_json = from_json(json.dumps(EQUIVALENT_JSON))

    assert from_text_toml == from_text_json
    assert from_text_toml.credentials[0].enabled is False
    assert from_text_toml.roles[0].allowed_scopes == (
        AccessScope(
            bucket="public",
            prefixes=("{sub}/",),
            actions=frozenset({Action.PUT_OBJECT, Action.GET_OBJECT}),
        ),
    )


def test_load_config_picks_the_format_by_suffix(tmp_path: Path) -> None:
    toml_file = tmp_path / "gateway.toml"
    toml_file.write_text(EQUIVALENT_TOML, encoding="utf-8")
    json_file = tmp_path / "gateway.json"
    json_file.write_text(json.dumps(EQUIVALENT_JSON), encoding="utf-8")
    # Anything but .json is TOML, as upstream (e.g. a file mounted as /etc/multistore/config).
    no_suffix = tmp_path / "config"
    no_suffix.write_text(EQUIVALENT_TOML, encoding="utf-8")

    assert load_config(toml_file) == load_config(str(json_file)) == load_config(no_suffix)


def test_json_content_in_a_toml_named_file_is_a_toml_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(json.dumps(EQUIVALENT_JSON), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^invalid TOML: .*line 1"):
        load_config(path)


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=r"cannot read config file .*nope\.toml"):
        load_config(missing)


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'owner_id = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="is not valid UTF-8"):
        load_config(path)


def test_invalid_json_reports_position() -> None:
    with pytest.raises(ConfigError, match=r"^invalid JSON: .*\(at line 1, column \d+\)$"):
        from_json('{"buckets": [}')


def test_json_top_level_must_be_an_object() -> None:
    with pytest.raises(ConfigError, match="must be a JSON object"):
        from_json("[]")


def test_json_duplicate_keys_are_rejected_like_toml() -> None:
    with pytest.raises(ConfigError, match=r'^invalid JSON: duplicate key "buckets"$'):
        from_json('{"buckets": [], "buckets": []}')
    with pytest.raises(ConfigError, match=r"^invalid TOML"):
        from_toml("owner_id = 'a'\nowner_id = 'b'\n")


def test_load_validates_after_decoding(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps(
            {"roles": [{"role_id": "bad-role", "name": "Bad", "max_session_duration_secs": 3600}]}
        ),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="no trusted_oidc_issuers"):
        load_config(path)


# A config written for the Rust gateway (multistore 0.7.2), in the style of its example
# server config: S3 buckets, OIDC roles with {claim} templates, a static credential with
# chrono's nanosecond timestamps. It must load here unchanged.
UPSTREAM_STYLE_CONFIG = """\
owner_id = "data-proxy"
owner_display_name = "Data Proxy"

# A public dataset mirrored from a data host that accepts unsigned reads
[[buckets]]
name = "open-imagery"
backend_type = "s3"
anonymous_access = true
allowed_roles = ["github-actions"]

[buckets.backend_options]
endpoint = "https://data.example.org"
bucket_name = "open-imagery"
region = "us-west-2"
skip_signature = "true"

# A private bucket on AWS, exposed under a prefix of a shared backend bucket
[[buckets]]
name = "team-uploads"
backend_type = "s3"
backend_prefix = "uploads/team/"
anonymous_access = false
allowed_roles = []

[buckets.backend_options]
bucket_name = "shared-backend"
region = "eu-west-1"
access_key_id = "AKIABACKENDKEY000000"
secret_access_key = "backend/secret/key/value/abcdefghijklmn"

[[buckets]]
name = "archive"
backend_type = "az"
anonymous_access = false

[buckets.backend_options]
account_name = "archiveaccount"
container_name = "archive"
access_key = "YXp1cmUta2V5LWJhc2U2NA=="

# CI jobs may write under a folder named after their repository
[[roles]]
role_id = "github-actions"
name = "GitHub Actions"
trusted_oidc_issuers = ["https://token.actions.githubusercontent.com"]
required_audience = "sts.amazonaws.com"
subject_conditions = ["repo:example-org/*"]
max_session_duration_secs = 3600

[[roles.allowed_scopes]]
bucket = "team-uploads"
prefixes = ["{repository}/"]
actions = ["get_object", "head_object", "put_object", "list_bucket",
           "create_multipart_upload", "upload_part", "complete_multipart_upload",
           "abort_multipart_upload"]

# Every signed-in user gets a home bucket named after their subject
[[roles]]
role_id = "portal-user"
name = "Portal User"
trusted_oidc_issuers = ["https://auth.example.org"]
required_audiences = ["portal", "cli"]
subject_conditions = ["*"]
max_session_duration_secs = 43200

[[roles.allowed_scopes]]
bucket = "{sub}"
prefixes = []
actions = ["get_object", "head_object", "put_object", "delete_object", "list_bucket"]

[[roles.allowed_scopes]]
bucket = "*"
prefixes = ["shared/"]
actions = ["get_object", "list_bucket"]

# A role kept for later; it can be assumed but grants nothing
[[roles]]
role_id = "no-access"
name = "No Access"
trusted_oidc_issuers = ["https://token.actions.githubusercontent.com"]
subject_conditions = ["repo:example-org/sandbox:*"]
max_session_duration_secs = 900

[[credentials]]
access_key_id = "AKIAGATEWAYUSER00001"
secret_access_key = "gateway/user/secret/0123456789abcdefghij"
principal_name = "etl-service"
created_at = "2024-03-05T12:00:00.123456789Z"
expires_at = "2026-03-05T12:00:00Z"
enabled = true

[[credentials.allowed_scopes]]
bucket = "team-uploads"
prefixes = ["etl/", "reports"]
actions = ["get_object", "get_object_version", "put_object", "list_bucket"]
"""


def test_upstream_style_config_loads_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(UPSTREAM_STYLE_CONFIG, encoding="utf-8")

    config = load_config(path)

    assert config.owner.id == "data-proxy"
    assert [b.name for b in config.buckets] == ["open-imagery", "team-uploads", "archive"]
    imagery, uploads, archive = config.buckets
    assert imagery.anonymous_access is True
    assert imagery.option("skip_signature") == "true"
    assert imagery.region == "us-west-2"
    assert uploads.backend_prefix == "uploads/team/"
    assert uploads.region == "eu-west-1"
    assert archive.backend_type == "az"
    assert archive.region == "us-east-1"

    github, portal, no_access = config.roles
    assert github.required_audiences == ("sts.amazonaws.com",)
    assert github.allowed_scopes[0].prefixes == ("{repository}/",)
    assert len(github.allowed_scopes[0].actions) == 8
    assert portal.required_audiences == ("portal", "cli")
    assert portal.max_session_duration_secs == 43200
    assert [s.bucket for s in portal.allowed_scopes] == ["{sub}", "*"]
    assert no_access.allowed_scopes == ()

    (credential,) = config.credentials
    assert credential.created_at == datetime(2024, 3, 5, 12, 0, 0, 123456, tzinfo=UTC)
    assert credential.expires_at == datetime(2026, 3, 5, 12, tzinfo=UTC)
    assert Action.GET_OBJECT_VERSION in credential.allowed_scopes[0].actions
