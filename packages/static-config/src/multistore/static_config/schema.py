"""Decoded TOML/JSON document → validated :class:`StaticConfig`.

The schema is upstream's (multistore 0.7.2), so config files written for the Rust gateway
load unchanged; the few additions and stricter checks are listed in docs/configuration.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType

from multistore.core.config import (
    AccessScope,
    Action,
    BucketConfig,
    RoleConfig,
    StoredCredential,
)
from multistore.core.registry import BucketOwner
from multistore.static_config._reader import Problems, TableReader, is_list, quote
from multistore.static_config.errors import ConfigError
from multistore.static_config.model import StaticConfig
from multistore.static_config.server_settings import parse_server_settings
from multistore.static_config.validation import (
    CredentialFacts,
    RoleFacts,
    backend_auth_problems,
    bucket_name_problems,
    credential_problems,
    role_problems,
    warn_about_unknown_allowed_roles,
)

logger = logging.getLogger("multistore.static_config")

DEFAULT_REGION = "us-east-1"
DEFAULT_MAX_SESSION_DURATION_SECS = 3600

BACKEND_TYPES = ("s3", "az", "azure", "gcs", "gs", "file")

TOP_LEVEL_KEYS = frozenset(
    {"owner_id", "owner_display_name", "buckets", "roles", "credentials", "server"}
)
BUCKET_KEYS = frozenset(
    {
        "name",
        "backend_type",
        "backend_prefix",
        "anonymous_access",
        "allowed_roles",
        "backend_options",
        "region",
        "cors_origins",
    }
)
ROLE_KEYS = frozenset(
    {
        "role_id",
        "name",
        "trusted_oidc_issuers",
        "required_audiences",
        "required_audience",
        "subject_conditions",
        "allowed_scopes",
        "max_session_duration_secs",
    }
)
CREDENTIAL_KEYS = frozenset(
    {
        "access_key_id",
        "secret_access_key",
        "principal_name",
        "allowed_scopes",
        "created_at",
        "expires_at",
        "enabled",
    }
)
SCOPE_KEYS = frozenset({"bucket", "prefixes", "actions"})

_ACTIONS_BY_NAME = {action.value: action for action in Action}


def parse_config(data: Mapping[str, object]) -> StaticConfig:
    """Validate a decoded document and map it onto the core model.

    Raises :class:`ConfigError` listing every problem found.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(["the configuration must be a table (a JSON object)"])
    problems = Problems()
    root = TableReader(data, "", problems)

    # Top-level tables we do not know belong to plugins (e.g. [metering]); anything else
    # unknown is most likely a typo.
    extra_sections = {
        str(key): MappingProxyType(dict(value))
        for key, value in data.items()
        if key not in TOP_LEVEL_KEYS and isinstance(value, Mapping)
    }
    root.warn_unknown(TOP_LEVEL_KEYS.union(extra_sections))
    if extra_sections:
        logger.info(
            "config tables left for plugins: %s", ", ".join(f"[{k}]" for k in extra_sections)
        )

    default_owner = BucketOwner()
    owner = BucketOwner(
        id=_or_default(root.optional_str("owner_id"), default_owner.id),
        display_name=_or_default(
            root.optional_str("owner_display_name"), default_owner.display_name
        ),
    )

    bucket_names: list[str | None] = []
    buckets: list[BucketConfig] = []
    for table in root.tables("buckets"):
        name, bucket = _parse_bucket(table)
        bucket_names.append(name)
        buckets.append(bucket)

    role_facts: list[RoleFacts] = []
    roles: list[RoleConfig] = []
    for table in root.tables("roles"):
        facts, role = _parse_role(table)
        role_facts.append(facts)
        roles.append(role)

    credential_facts: list[CredentialFacts] = []
    credentials: list[StoredCredential] = []
    for table in root.tables("credentials"):
        credential_fact, credential = _parse_credential(table)
        credential_facts.append(credential_fact)
        credentials.append(credential)

    server = parse_server_settings(root.table("server"))

    problems.messages.extend(bucket_name_problems(bucket_names))
    problems.messages.extend(role_problems(role_facts))
    problems.messages.extend(credential_problems(credential_facts))
    warn_about_unknown_allowed_roles(buckets, (facts.role_id for facts in role_facts))
    if problems.messages:
        raise ConfigError(problems.messages)

    return StaticConfig(
        owner=owner,
        buckets=tuple(buckets),
        credentials=tuple(credentials),
        roles=tuple(roles),
        server=server,
        extra_sections=MappingProxyType(extra_sections),
    )


def _or_default(value: str | None, default: str) -> str:
    return default if value is None else value


def _parse_bucket(table: TableReader) -> tuple[str | None, BucketConfig]:
    table.warn_unknown(BUCKET_KEYS)
    name = table.required_str("name")
    backend_type = table.required_str("backend_type")
    if backend_type is not None and backend_type not in BACKEND_TYPES:
        # Upstream accepted any string and failed on first use; failing at load is kinder.
        table.problem(
            f"{table.path_of('backend_type')}: unknown backend type {quote(backend_type)} "
            f"(expected one of {', '.join(BACKEND_TYPES)})"
        )
    anonymous_access = table.required_bool("anonymous_access")
    options = table.string_map("backend_options")
    if backend_type == "file" and not options.get("root"):
        table.problem(f'{table.path_of("backend_options")}.root is required for a "file" bucket')
    for problem in backend_auth_problems(table.path_of("backend_options"), backend_type, options):
        table.problem(problem)
    region = table.optional_str("region") or options.get("region") or DEFAULT_REGION
    bucket = BucketConfig(
        name=name or "",
        backend_type=backend_type or "",
        anonymous_access=anonymous_access,
        backend_prefix=table.optional_str("backend_prefix") or "",
        allowed_roles=table.str_list("allowed_roles"),
        backend_options=MappingProxyType(options),
        region=region,
        cors_origins=table.origins("cors_origins") or (),
    )
    return name, bucket


def _parse_role(table: TableReader) -> tuple[RoleFacts, RoleConfig]:
    table.warn_unknown(ROLE_KEYS)
    role_id = table.required_str("role_id")
    name = table.required_str("name")
    raw_issuers = table.raw("trusted_oidc_issuers")
    issuers = table.str_list("trusted_oidc_issuers")
    max_session = table.optional_int("max_session_duration_secs", minimum=0)
    role = RoleConfig(
        role_id=role_id or "",
        name=name or "",
        trusted_oidc_issuers=issuers,
        required_audiences=_required_audiences(table),
        subject_conditions=table.str_list("subject_conditions"),
        allowed_scopes=_scopes(table),
        max_session_duration_secs=(
            DEFAULT_MAX_SESSION_DURATION_SECS if max_session is None else max_session
        ),
    )
    # A mistyped list is reported by the reader; only a missing or empty one is this problem.
    lacks_issuers = raw_issuers is None or (is_list(raw_issuers) and not issuers)
    return RoleFacts(role_id=role_id, lacks_issuers=lacks_issuers), role


def _required_audiences(table: TableReader) -> tuple[str, ...]:
    """``required_audiences`` as a string or a list; ``required_audience`` is its old name."""
    if table.has("required_audiences") and table.has("required_audience"):
        table.problem(
            f"{table.path}: give required_audiences or its legacy alias required_audience, not both"
        )
        return ()
    key = "required_audience" if table.has("required_audience") else "required_audiences"
    value = table.raw(key)
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not is_list(value):
        table.field_problem(key, "must be a string or a list of strings")
        return ()
    return table.as_str_list(key, value)


def _parse_credential(table: TableReader) -> tuple[CredentialFacts, StoredCredential]:
    table.warn_unknown(CREDENTIAL_KEYS)
    access_key_id = table.required_str("access_key_id")
    secret = table.required_str("secret_access_key")
    credential = StoredCredential(
        access_key_id=access_key_id or "",
        secret_access_key=secret or "",
        principal_name=table.required_str("principal_name") or "",
        allowed_scopes=_scopes(table),
        enabled=table.bool_with_default("enabled", default=True),
        created_at=table.timestamp("created_at"),
        expires_at=table.timestamp("expires_at"),
    )
    facts = CredentialFacts(access_key_id=access_key_id, secret_is_empty=secret == "")
    return facts, credential


def _scopes(table: TableReader) -> tuple[AccessScope, ...]:
    scopes: list[AccessScope] = []
    for scope in table.tables("allowed_scopes"):
        scope.warn_unknown(SCOPE_KEYS)
        bucket = scope.required_str("bucket")
        # Required even when empty: a forgotten `prefixes` must not silently mean "every key".
        prefixes = scope.str_list("prefixes", required=True)
        actions = _actions(scope)
        scopes.append(AccessScope(bucket=bucket or "", prefixes=prefixes, actions=actions))
    return tuple(scopes)


def _actions(scope: TableReader) -> frozenset[Action]:
    value = scope.raw("actions")
    if value is None:
        scope.field_problem("actions", "is required (it may be an empty list)")
        return frozenset()
    actions: set[Action] = set()
    for index, name in scope.indexed_strs("actions", value):
        action = _ACTIONS_BY_NAME.get(name)
        if action is None:
            scope.problem(
                f"{scope.path_of('actions')}[{index}]: unknown action {quote(name)} "
                f"(expected one of {', '.join(_ACTIONS_BY_NAME)})"
            )
        else:
            actions.add(action)
    return frozenset(actions)
