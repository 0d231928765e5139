"""Secrets never show up in reprs, strings, error messages or log lines."""

from __future__ import annotations

import json
import logging

import pytest

from multistore.static_config import (
    CachedProvider,
    ConfigError,
    StaticProvider,
    from_json,
    from_toml,
)

SECRETS = {
    "secret_access_key": "CredentialSecretValue0001",
    "backend_secret": "BackendSecretValue0002",
    "access_key": "AzureSharedKeyValue0003",
    "sas_token": "sv=2024&sig=SasSignatureValue0004",
    "service_account_key": "GcsServiceAccountValue0005",
    "token": "SessionTokenValue0006",
}

CONFIG_WITH_SECRETS = f"""
[[buckets]]
name = "s3-bucket"
backend_type = "s3"
anonymous_access = false
unknown_bucket_key = "not a secret"
[buckets.backend_options]
bucket_name = "real"
access_key_id = "AKIABACKEND"
secret_access_key = "{SECRETS["backend_secret"]}"
token = "{SECRETS["token"]}"

[[buckets]]
name = "azure-bucket"
backend_type = "azure"
anonymous_access = false
[buckets.backend_options]
account_name = "acct"
container_name = "c"
access_key = "{SECRETS["access_key"]}"
sas_token = "{SECRETS["sas_token"]}"

[[buckets]]
name = "gcs-bucket"
backend_type = "gcs"
anonymous_access = false
[buckets.backend_options]
bucket_name = "g"
service_account_key = "{SECRETS["service_account_key"]}"

[[credentials]]
access_key_id = "AKIDUSER"
secret_access_key = "{SECRETS["secret_access_key"]}"
principal_name = "alice"

[[credentials.allowed_scopes]]
bucket = "*"
prefixes = []
actions = ["get_object"]

[metering]
redis_url = "redis://:{SECRETS["token"]}@127.0.0.1"
"""


def assert_no_secret(text: str) -> None:
    for name, value in SECRETS.items():
        assert value not in text, f"{name} leaked into: {text}"


def test_reprs_and_strings_hide_secrets(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="multistore.static_config"):
        config = from_toml(CONFIG_WITH_SECRETS)
    provider = StaticProvider(config)
    cached = CachedProvider(provider)
    # Make sure the secrets really were loaded, so the checks below can fail.
    assert config.credentials[0].secret_access_key == SECRETS["secret_access_key"]
    assert config.buckets[1].option("sas_token") == SECRETS["sas_token"]

    objects: list[object] = [
        config,
        provider,
        cached,
        config.server,
        *config.buckets,
        *config.credentials,
        config.credentials[0].allowed_scopes,
    ]
    for item in objects:
        assert_no_secret(repr(item))
        assert_no_secret(str(item))
    assert caplog.records, "the unknown key should have been logged"
    for record in caplog.records:
        assert_no_secret(record.getMessage())


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ("buckets.backend_options", "secret_access_key"),
        ("buckets.backend_options", "token"),
        ("buckets.backend_options", "access_key"),
        ("buckets.backend_options", "sas_token"),
        ("buckets.backend_options", "service_account_key"),
        ("credentials", "secret_access_key"),
    ],
)
def test_mistyped_secret_is_not_echoed_in_the_error(table: str, key: str) -> None:
    # A number typed without quotes would normally get a '(write "…")' hint; not for secrets.
    secret_number = 987654321987
    document: dict[str, object] = {
        "buckets": [
            {
                "name": "b",
                "backend_type": "s3",
                "anonymous_access": False,
                "backend_options": {},
            }
        ],
        "credentials": [{"access_key_id": "AK", "secret_access_key": "x", "principal_name": "p"}],
    }
    if table == "credentials":
        document["credentials"][0][key] = secret_number  # type: ignore[index]
    else:
        document["buckets"][0]["backend_options"][key] = secret_number  # type: ignore[index]

    with pytest.raises(ConfigError) as caught:
        from_json(json.dumps(document))

    assert str(secret_number) not in str(caught.value)
    assert caught.value.problems[0].endswith(f"{key} must be a string")


def test_validation_errors_do_not_echo_secrets() -> None:
    broken = CONFIG_WITH_SECRETS + (
        '\n[[credentials]]\naccess_key_id = "AKIDUSER"\n'
        f'secret_access_key = "{SECRETS["secret_access_key"]}"\nprincipal_name = "dup"\n'
    )
    with pytest.raises(ConfigError) as caught:
        from_toml(broken)
    assert str(caught.value) == 'duplicate credential access_key_id: "AKIDUSER"'
    assert_no_secret(str(caught.value))


def test_decode_errors_do_not_echo_the_document() -> None:
    toml_text = f'secret_access_key = "{SECRETS["secret_access_key"]}" trailing garbage\n'
    with pytest.raises(ConfigError) as toml_error:
        from_toml(toml_text)
    assert_no_secret(str(toml_error.value))
    assert toml_error.value.__cause__ is None

    json_text = f'{{"secret_access_key": "{SECRETS["secret_access_key"]}" oops}}'
    with pytest.raises(ConfigError) as json_error:
        from_json(json_text)
    assert_no_secret(str(json_error.value))
    assert json_error.value.__cause__ is None
    assert json_error.value.__suppress_context__
