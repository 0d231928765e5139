"""Parsing and validation of the config document (upstream §15.1 to 15.2 plus our additions)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from multistore.core.config import AccessScope, Action, BucketConfig, RoleConfig
from multistore.core.registry import BucketOwner
from multistore.static_config import (
    ConfigError,
    ServerSettings,
    StaticConfig,
    from_toml,
    parse_config,
)


def valid_document() -> dict[str, Any]:
    return {
        "buckets": [{"name": "my-bucket", "backend_type": "s3", "anonymous_access": True}],
        "roles": [
            {
                "role_id": "my-role",
                "name": "My Role",
                "trusted_oidc_issuers": ["https://issuer.example.com"],
                "max_session_duration_secs": 3600,
            }
        ],
        "credentials": [
            {
                "access_key_id": "AKID1",
                "secret_access_key": "secret",
                "principal_name": "user",
                "allowed_scopes": [],
                "created_at": "2024-01-01T00:00:00Z",
                "enabled": True,
            }
        ],
    }


def problems_of(document: Mapping[str, Any]) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        parse_config(document)
    assert str(caught.value) == "; ".join(caught.value.problems)
    return caught.value.problems


# --- valid and empty ---------------------------------------------------------------------


def test_valid_config_maps_onto_core_model() -> None:
    config = parse_config(valid_document())

    assert config.buckets == (
        BucketConfig(name="my-bucket", backend_type="s3", anonymous_access=True),
    )
    assert config.roles == (
        RoleConfig(
            role_id="my-role",
            name="My Role",
            trusted_oidc_issuers=("https://issuer.example.com",),
            max_session_duration_secs=3600,
        ),
    )
    (credential,) = config.credentials
    assert credential.access_key_id == "AKID1"
    assert credential.secret_access_key == "secret"
    assert credential.created_at == datetime(2024, 1, 1, tzinfo=UTC)
    assert credential.enabled is True


def test_empty_config_is_valid_with_upstream_defaults() -> None:
    config = parse_config({})

    assert config == StaticConfig()
    assert config.owner == BucketOwner(id="multistore-proxy", display_name="multistore-proxy")
    assert config.server == ServerSettings()


def test_empty_toml_document_is_valid() -> None:
    assert from_toml("") == StaticConfig()


def test_owner_comes_from_owner_id_and_display_name() -> None:
    config = parse_config({"owner_id": "abc123", "owner_display_name": "Data Team"})
    assert config.owner == BucketOwner(id="abc123", display_name="Data Team")


def test_top_level_must_be_a_table() -> None:
    with pytest.raises(ConfigError, match="must be a table"):
        parse_config([])  # type: ignore[arg-type]


# --- upstream validation messages --------------------------------------------------------


def test_empty_bucket_name() -> None:
    document = valid_document()
    document["buckets"][0]["name"] = ""
    assert problems_of(document) == ("bucket[0] has an empty name",)


def test_duplicate_bucket_name() -> None:
    document = valid_document()
    document["buckets"].append(dict(document["buckets"][0]))
    assert problems_of(document) == ('duplicate bucket name: "my-bucket"',)


def test_empty_role_id() -> None:
    document = valid_document()
    document["roles"][0]["role_id"] = ""
    assert problems_of(document) == ("role[0] has an empty role_id",)


def test_duplicate_role_id() -> None:
    document = valid_document()
    document["roles"].append(dict(document["roles"][0]))
    assert problems_of(document) == ('duplicate role_id: "my-role"',)


@pytest.mark.parametrize("issuers", [None, []], ids=["missing", "empty"])
def test_role_without_trusted_issuers(issuers: list[str] | None) -> None:
    document = valid_document()
    document["roles"][0]["trusted_oidc_issuers"] = issuers
    assert problems_of(document) == (
        'role "my-role" has no trusted_oidc_issuers (will never accept a token)',
    )


def test_empty_access_key_id() -> None:
    document = valid_document()
    document["credentials"][0]["access_key_id"] = ""
    assert problems_of(document) == ("credential[0] has an empty access_key_id",)


def test_duplicate_access_key_id() -> None:
    document = valid_document()
    document["credentials"].append(dict(document["credentials"][0]))
    assert problems_of(document) == ('duplicate credential access_key_id: "AKID1"',)


def test_multiple_errors_are_all_collected_in_one_message() -> None:
    document = valid_document()
    document["buckets"][0]["name"] = ""
    document["roles"][0]["role_id"] = ""
    document["credentials"][0]["access_key_id"] = ""
    del document["buckets"][0]["anonymous_access"]
    document["credentials"][0]["allowed_scopes"] = [
        {"bucket": "b", "prefixes": [], "actions": ["get"]}
    ]

    problems = problems_of(document)

    assert set(problems) == {
        "buckets[0].anonymous_access is required",
        "credentials[0].allowed_scopes[0].actions[0]: unknown action "
        '"get" (expected one of ' + ", ".join(a.value for a in Action) + ")",
        "bucket[0] has an empty name",
        "role[0] has an empty role_id",
        "credential[0] has an empty access_key_id",
    }
    assert len(problems) == 5
    # Type problems (found while parsing) come before the cross-entry checks.
    assert problems[0] == "buckets[0].anonymous_access is required"


def test_toml_role_without_issuers_is_rejected_like_upstream() -> None:
    with pytest.raises(ConfigError, match="no trusted_oidc_issuers"):
        from_toml(
            """
            [[roles]]
            role_id = "bad-role"
            name = "Bad"
            max_session_duration_secs = 3600
            """
        )


# --- type errors carry the path of the offending value -----------------------------------


def test_anonymous_access_is_required() -> None:
    document = valid_document()
    del document["buckets"][0]["anonymous_access"]
    assert problems_of(document) == ("buckets[0].anonymous_access is required",)


def test_required_strings_are_reported_once() -> None:
    # A missing name is a type problem; it must not also be reported as "empty name".
    problems = problems_of({"buckets": [{"backend_type": "s3", "anonymous_access": False}]})
    assert problems == ("buckets[0].name is required",)


def test_toml_boolean_backend_option_gets_a_quoting_hint() -> None:
    with pytest.raises(ConfigError) as caught:
        from_toml(
            """
            [[buckets]]
            name = "ok"
            backend_type = "s3"
            anonymous_access = true
            [[buckets]]
            name = "public"
            backend_type = "s3"
            anonymous_access = true
            [buckets.backend_options]
            skip_signature = true
            """
        )
    assert caught.value.problems == (
        'buckets[1].backend_options.skip_signature must be a string (write "true")',
    )


def test_numeric_backend_option_gets_a_quoting_hint() -> None:
    document = {
        "buckets": [
            {
                "name": "b",
                "backend_type": "s3",
                "anonymous_access": False,
                "backend_options": {"port": 9000, "list": ["x"]},
            }
        ]
    }
    assert problems_of(document) == (
        'buckets[0].backend_options.port must be a string (write "9000")',
        "buckets[0].backend_options.list must be a string",
    )


def test_unknown_action_names_the_scope_and_position() -> None:
    document = valid_document()
    document["credentials"][0]["allowed_scopes"] = [
        {"bucket": "a", "prefixes": [], "actions": ["get_object"]},
        {"bucket": "b", "prefixes": [], "actions": ["get", "list_bucket"]},
    ]
    (problem,) = problems_of(document)
    assert problem.startswith('credentials[0].allowed_scopes[1].actions[0]: unknown action "get"')


def test_non_string_action_keeps_its_position() -> None:
    document = valid_document()
    document["credentials"][0]["allowed_scopes"] = [
        {"bucket": "a", "prefixes": [], "actions": [7, "nope"]}
    ]
    problems = problems_of(document)
    assert "credentials[0].allowed_scopes[0].actions[0] must be a string" in problems
    assert any(
        p.startswith("credentials[0].allowed_scopes[0].actions[1]: unknown") for p in problems
    )


def test_scope_prefixes_are_required_so_omission_never_means_every_key() -> None:
    document = valid_document()
    document["credentials"][0]["allowed_scopes"] = [{"bucket": "a", "actions": ["get_object"]}]
    assert problems_of(document) == (
        "credentials[0].allowed_scopes[0].prefixes is required (it may be an empty list)",
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("enabled", "yes", "credentials[0].enabled must be a boolean (true or false)"),
        ("principal_name", 5, "credentials[0].principal_name must be a string"),
        (
            "allowed_scopes",
            {"bucket": "x"},
            "credentials[0].allowed_scopes must be a list of tables",
        ),
        ("allowed_scopes", ["x"], "credentials[0].allowed_scopes[0] must be a table"),
    ],
)
def test_credential_field_types(field: str, value: object, message: str) -> None:
    document = valid_document()
    document["credentials"][0][field] = value
    assert problems_of(document) == (message,)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "roles[0].max_session_duration_secs must be an integer"),
        ("3600", "roles[0].max_session_duration_secs must be an integer"),
        (-1, "roles[0].max_session_duration_secs must be at least 0"),
    ],
)
def test_max_session_duration_must_be_a_non_negative_integer(value: object, message: str) -> None:
    document = valid_document()
    document["roles"][0]["max_session_duration_secs"] = value
    assert problems_of(document) == (message,)


def test_sections_of_the_wrong_shape() -> None:
    assert problems_of({"buckets": {"name": "x"}, "server": []}) == (
        "buckets must be a list of tables",
        "server must be a table",
    )


# --- roles -------------------------------------------------------------------------------


def role_document(**fields: object) -> dict[str, Any]:
    role: dict[str, object] = {
        "role_id": "r",
        "name": "R",
        "trusted_oidc_issuers": ["https://token.actions.githubusercontent.com"],
    }
    role.update(fields)
    return {"roles": [role]}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, ()),
        ({"required_audiences": "sts.amazonaws.com"}, ("sts.amazonaws.com",)),
        ({"required_audiences": ["a", "b"]}, ("a", "b")),
        ({"required_audiences": []}, ()),
        ({"required_audiences": None}, ()),
        ({"required_audience": "legacy"}, ("legacy",)),
        ({"required_audience": ["l1", "l2"]}, ("l1", "l2")),
    ],
)
def test_required_audiences_forms(fields: dict[str, object], expected: tuple[str, ...]) -> None:
    (role,) = parse_config(role_document(**fields)).roles
    assert role.required_audiences == expected


def test_required_audiences_and_legacy_alias_together_is_an_error() -> None:
    document = role_document(required_audiences=["a"], required_audience="b")
    assert problems_of(document) == (
        "roles[0]: give required_audiences or its legacy alias required_audience, not both",
    )


def test_required_audiences_of_the_wrong_type() -> None:
    assert problems_of(role_document(required_audiences=5)) == (
        "roles[0].required_audiences must be a string or a list of strings",
    )


def test_role_defaults_and_scopes() -> None:
    document = role_document(
        subject_conditions=["repo:org/*"],
        allowed_scopes=[
            {"bucket": "{sub}", "prefixes": ["{repository}/"], "actions": ["get_object"]}
        ],
    )
    (role,) = parse_config(document).roles
    assert role.max_session_duration_secs == 3600
    assert role.subject_conditions == ("repo:org/*",)
    assert role.allowed_scopes == (
        AccessScope(
            bucket="{sub}", prefixes=("{repository}/",), actions=frozenset({Action.GET_OBJECT})
        ),
    )


# --- credentials -------------------------------------------------------------------------


def test_credential_optional_fields_have_lenient_defaults() -> None:
    document = {
        "credentials": [{"access_key_id": "AK", "secret_access_key": "s", "principal_name": "p"}]
    }
    (credential,) = parse_config(document).credentials
    assert credential.enabled is True
    assert credential.created_at is None
    assert credential.expires_at is None
    assert credential.allowed_scopes == ()


def test_empty_secret_is_rejected_because_anyone_could_sign_with_it() -> None:
    document = valid_document()
    document["credentials"][0]["secret_access_key"] = ""
    assert problems_of(document) == ("credential[0] has an empty secret_access_key",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-01T00:00:00Z", datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024-01-01t00:00:00z", datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024-01-01 12:30:00+02:00", datetime(2024, 1, 1, 10, 30, tzinfo=UTC)),
        (
            "2025-06-30T23:59:59.123456789-05:30",
            datetime(2025, 6, 30, 23, 59, 59, 123456, tzinfo=timezone(-timedelta(hours=5.5))),
        ),
    ],
)
def test_timestamps_are_rfc3339_and_aware(text: str, expected: datetime) -> None:
    document = valid_document()
    document["credentials"][0]["expires_at"] = text
    (credential,) = parse_config(document).credentials
    assert credential.expires_at is not None
    assert credential.expires_at.tzinfo is not None
    assert credential.expires_at == expected


@pytest.mark.parametrize(
    "text", ["2024-01-01", "2024-01-01T00:00:00", "2024-02-30T00:00:00Z", "yesterday"]
)
def test_invalid_timestamps(text: str) -> None:
    document = valid_document()
    document["credentials"][0]["created_at"] = text
    (problem,) = problems_of(document)
    assert problem.startswith(f'credentials[0].created_at: "{text}" is not an RFC 3339 timestamp')


def test_native_toml_datetimes_are_accepted_when_they_carry_an_offset() -> None:
    base = """
        [[credentials]]
        access_key_id = "AK"
        secret_access_key = "s"
        principal_name = "p"
    """
    (credential,) = from_toml(base + "created_at = 2024-05-01T10:00:00+01:00\n").credentials
    assert credential.created_at == datetime(2024, 5, 1, 9, tzinfo=UTC)

    with pytest.raises(ConfigError) as caught:
        from_toml(base + "created_at = 2024-05-01T10:00:00\n")
    assert caught.value.problems == (
        "credentials[0].created_at must include a timezone offset (e.g. Z)",
    )


# --- buckets -----------------------------------------------------------------------------


def bucket_document(**fields: object) -> dict[str, Any]:
    bucket: dict[str, object] = {"name": "b", "backend_type": "s3", "anonymous_access": False}
    bucket.update(fields)
    return {"buckets": [bucket]}


@pytest.mark.parametrize("backend_type", ["s3", "az", "azure", "gcs", "gs"])
def test_known_backend_types_load(backend_type: str) -> None:
    (bucket,) = parse_config(bucket_document(backend_type=backend_type)).buckets
    assert bucket.backend_type == backend_type


def test_unknown_backend_type_fails_at_load() -> None:
    assert problems_of(bucket_document(backend_type="ftp")) == (
        'buckets[0].backend_type: unknown backend type "ftp" '
        "(expected one of s3, az, azure, gcs, gs, file)",
    )


def test_file_bucket_requires_a_root() -> None:
    assert problems_of(bucket_document(backend_type="file")) == (
        'buckets[0].backend_options.root is required for a "file" bucket',
    )
    document = bucket_document(backend_type="file", backend_options={"root": "/srv/data"})
    (bucket,) = parse_config(document).buckets
    assert bucket.option("root") == "/srv/data"


def test_oidc_bucket_loads_with_its_options() -> None:
    options = {"auth_type": "oidc", "oidc_role_arn": "arn:aws:iam::1:role/r",
               "oidc_subject": "gw", "oidc_session_duration_secs": "3600"}  # fmt: skip
    (bucket,) = parse_config(bucket_document(backend_options=options)).buckets
    assert bucket.option("auth_type") == "oidc"
    assert bucket.option("oidc_role_arn") == "arn:aws:iam::1:role/r"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"backend_options": {"auth_type": "oidc"}},
         'buckets[0].backend_options.oidc_role_arn is required with auth_type = "oidc"'),
        ({"backend_type": "file",
          "backend_options": {"root": "/d", "auth_type": "oidc", "oidc_role_arn": "r"}},
         'buckets[0].backend_options.auth_type = "oidc" needs backend_type = "s3", not "file"'),
        ({"backend_options": {"auth_type": "oidc", "oidc_role_arn": "r",
                              "access_key_id": "AK", "secret_access_key": "s"}},
         'buckets[0].backend_options: auth_type = "oidc" obtains credentials itself; remove '
         "access_key_id and secret_access_key"),
        ({"backend_options": {"auth_type": "oidc", "oidc_role_arn": "r",
                              "oidc_session_duration_secs": "60"}},
         "buckets[0].backend_options.oidc_session_duration_secs must be a whole number of "
         'seconds from 900 to 43200, got "60"'),
        ({"backend_options": {"auth_type": "kerberos"}},
         'buckets[0].backend_options.auth_type: unknown value "kerberos" (expected "oidc")'),
    ],
)  # fmt: skip
def test_oidc_bucket_problems(fields: dict[str, object], problem: str) -> None:
    assert problems_of(bucket_document(**fields)) == (problem,)


def test_oidc_options_without_auth_type_are_only_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The Rust gateway ignored them; its configs must still load.
    with caplog.at_level(logging.WARNING, logger="multistore.static_config"):
        parse_config(bucket_document(backend_options={"oidc_role_arn": "r"}))
    assert [r.getMessage() for r in caplog.records] == [
        'buckets[0].backend_options.oidc_role_arn has no effect without auth_type = "oidc"'
    ]


def test_bucket_fields_map_onto_bucket_config() -> None:
    document = bucket_document(
        backend_prefix="tenant-a/",
        allowed_roles=["reader"],
        backend_options={"bucket_name": "real", "region": "eu-west-1"},
        cors_origins=["https://app.example.com", "*"],
    )
    (bucket,) = parse_config({**document, **role_document(role_id="reader")}).buckets
    assert bucket.backend_prefix == "tenant-a/"
    assert bucket.allowed_roles == ("reader",)
    assert bucket.region == "eu-west-1"
    assert bucket.cors_origins == ("https://app.example.com", "*")
    assert dict(bucket.backend_options) == {"bucket_name": "real", "region": "eu-west-1"}
    with pytest.raises(TypeError):
        bucket.backend_options["bucket_name"] = "other"  # type: ignore[index]


@pytest.mark.parametrize(
    ("fields", "region"),
    [
        ({}, "us-east-1"),
        ({"backend_options": {"region": "eu-central-1"}}, "eu-central-1"),
        ({"region": "auto", "backend_options": {"region": "eu-central-1"}}, "auto"),
    ],
)
def test_bucket_region_default(fields: dict[str, object], region: str) -> None:
    (bucket,) = parse_config(bucket_document(**fields)).buckets
    assert bucket.region == region


def test_cors_origins_must_be_origins() -> None:
    document = bucket_document(cors_origins=["https://ok.example", "https://slash.example/", 3])
    assert set(problems_of(document)) == {
        'buckets[0].cors_origins[1]: "https://slash.example/" is not an origin '
        '(expected "*" or scheme://host[:port] with no path or trailing slash)',
        "buckets[0].cors_origins[2] must be a string",
    }


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("a/b", 'bucket[0] name "a/b" must not contain "/"'),
        (
            ".sts",
            'bucket[0] name ".sts" must not start with "." (reserved for gateway routes such '
            "as /.sts)",
        ),
    ],
)
def test_bucket_names_that_could_never_be_addressed(name: str, problem: str) -> None:
    assert problems_of(bucket_document(name=name)) == (problem,)


# --- warnings ----------------------------------------------------------------------------


def test_unknown_keys_are_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    document = valid_document()
    document["buckets"][0]["anonymous_acess"] = True
    document["credentials"][0]["allowed_scopes"] = [
        {"bucket": "a", "prefixes": [], "actions": [], "prefix": "typo"}
    ]
    document["bukets"] = []

    with caplog.at_level(logging.WARNING, logger="multistore.static_config"):
        parse_config(document)

    messages = [r.getMessage() for r in caplog.records]
    assert "ignoring unknown config keys at the top level: bukets" in messages
    assert "ignoring unknown config keys at buckets[0]: anonymous_acess" in messages
    assert "ignoring unknown config keys at credentials[0].allowed_scopes[0]: prefix" in messages


def test_backend_options_are_free_form_and_not_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    document = bucket_document(backend_options={"anything_a_backend_reads": "x"})
    with caplog.at_level(logging.WARNING, logger="multistore.static_config"):
        parse_config(document)
    assert caplog.records == []


def test_unknown_allowed_role_is_only_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="multistore.static_config"):
        config = parse_config(bucket_document(allowed_roles=["ghost"]))
    assert config.buckets[0].allowed_roles == ("ghost",)
    assert [r.getMessage() for r in caplog.records] == [
        'bucket "b": allowed_roles references unknown role_id "ghost" '
        "(it may be defined in another registry)"
    ]


def test_unknown_top_level_tables_are_kept_for_plugins(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="multistore.static_config"):
        config = parse_config({"metering": {"requests_per_second": 10}})
    assert caplog.records == []
    assert dict(config.extra_sections["metering"]) == {"requests_per_second": 10}


# --- [server] ----------------------------------------------------------------------------


def test_server_settings_are_parsed() -> None:
    config = from_toml(
        """
        [server]
        listen = "[::]:9000"
        domain = "s3.example.com"
        workers = 4
        tls_cert = "cert.pem"
        tls_key = "key.pem"
        max_object_size = 5368709120
        trusted_proxies = ["10.0.0.0/8", "127.0.0.1"]
        cors_origins = ["*"]
        log_level = "DEBUG"
        """
    )
    assert config.server == ServerSettings(
        listen="[::]:9000",
        domain="s3.example.com",
        workers=4,
        tls_cert="cert.pem",
        tls_key="key.pem",
        max_object_size=5368709120,
        trusted_proxies=("10.0.0.0/8", "127.0.0.1"),
        cors_origins=("*",),
        log_level="debug",
    )


@pytest.mark.parametrize("listen", ["0.0.0.0:8080", "[::1]:9000", ":8080", "localhost:0"])
def test_server_listen_forms(listen: str) -> None:
    assert parse_config({"server": {"listen": listen}}).server.listen == listen


@pytest.mark.parametrize("listen", ["8080", "host:", "host:http", "host:70000", "[::1:80"])
def test_server_listen_rejects(listen: str) -> None:
    (problem,) = problems_of({"server": {"listen": listen}})
    assert problem.startswith("server.listen: ")


def test_server_settings_problems() -> None:
    document = {
        "server": {
            "listen": "8080",
            "workers": 0,
            "tls_key": "key.pem",
            "trusted_proxies": ["10.0.0.0/8", "proxy.local"],
            "log_level": "loud",
        }
    }
    assert set(problems_of(document)) == {
        'server.listen: "8080" is not HOST:PORT (e.g. "0.0.0.0:8080" or "[::]:8080")',
        "server.workers must be at least 1",
        "server: tls_cert and tls_key must be given together",
        'server.trusted_proxies[1]: "proxy.local" is not an IP address or network',
        "server.log_level must be one of debug, info, warning, error, critical",
    }
