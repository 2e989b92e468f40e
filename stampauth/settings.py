"""Server configuration: a TOML or JSON file, ``STAMPAUTH_*`` environment variables and command-line flags,
validated in one place (pydantic-settings). Later sources win: file < environment < flags.

Environment variables name nested settings with ``__``: ``STAMPAUTH_SERVER__PORT=50052``,
``STAMPAUTH_AUTH__ENABLED=false``, ``STAMPAUTH_STORE=sqlite:///srv/refs.db``. ``stampauth config`` prints the
effective configuration with secrets masked; ``stampauth token new`` makes a token and the entry to configure.

Tokens are configured by their SHA-256 only: the server never holds a token in plain text, and neither does its
configuration or its logs.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

from stampauth.errors import InvalidInput

ROLES = ("verify", "admin")
TENANT_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenEntry(_Section):
    """One bearer token: who it is (``name``, for logs), its tenant and roles, and its SHA-256 (hex)."""

    name: str = Field(min_length=1, max_length=64)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    tenant: str = Field(pattern=TENANT_PATTERN)
    roles: list[Literal["verify", "admin"]] = Field(min_length=1)

    @field_validator("sha256", mode="before")
    @classmethod
    def _lowercase(cls, value):
        return value.lower() if isinstance(value, str) else value


class AuthSettings(_Section):
    enabled: bool = True
    tokens: list[TokenEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _usable(self):
        hashes = [t.sha256 for t in self.tokens]
        if len(set(hashes)) != len(hashes):
            raise ValueError("two auth.tokens entries have the same sha256")
        return self


class TlsSettings(_Section):
    cert_file: Path | None = None  # PEM certificate chain of the server
    key_file: Path | None = None  # PEM private key
    client_ca_file: Path | None = None  # PEM CA bundle: when set, clients must present a certificate it signed (mTLS)

    @model_validator(mode="after")
    def _complete(self):
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("tls.cert_file and tls.key_file go together: set both or neither")
        if self.client_ca_file is not None and self.cert_file is None:
            raise ValueError("tls.client_ca_file (mutual TLS) needs tls.cert_file and tls.key_file too")
        for name in ("cert_file", "key_file", "client_ca_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"tls.{name} {str(path)!r} is not a readable file")
        return self

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None


class ServerSettings(_Section):
    host: str = "[::]"
    port: int = Field(50051, ge=0, le=65535)
    insecure: bool = False  # serve plaintext gRPC: only when asked for (local use, or TLS ended by a proxy)
    grace_seconds: float = Field(10.0, ge=0, le=600)


class LimitSettings(_Section):
    max_concurrent_calls: int = Field(4, ge=1, le=256)  # calls doing work at once (2 cores: a few)
    max_queued_calls: int = Field(16, ge=0, le=4096)  # calls waiting for a slot; beyond: RESOURCE_EXHAUSTED at once
    max_message_mb: int = Field(128, ge=1, le=2000)  # one request; a 50-page 300-dpi colour scan as JPEG is ~50-100 MB
    max_document_mb: int = Field(256, ge=1, le=4096)  # a document sent in chunks (the upload methods)
    batch_inference: bool = True  # concurrent calls share model calls (stampauth.modeling.batching)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STAMPAUTH_", env_nested_delimiter="__", extra="forbid")

    server: ServerSettings = ServerSettings()
    tls: TlsSettings = TlsSettings()
    auth: AuthSettings = AuthSettings()
    limits: LimitSettings = LimitSettings()
    store: str | None = None  # reference store URL; default sqlite under $STAMPAUTH_DATA_DIR or ./data
    models_dir: Path | None = None
    tesseract: str | None = None  # the Tesseract binary; default: tesseract on PATH
    metrics_port: int | None = Field(None, ge=0, le=65535)  # Prometheus metrics over HTTP; unset: off
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="after")
    def _secure_unless_asked(self):
        if self.auth.enabled and not self.auth.tokens:
            raise ValueError("authentication is on but no token is configured: add [[auth.tokens]] entries "
                             "('stampauth token new' makes one), or set auth.enabled = false for local use only")
        if not self.server.insecure and not self.tls.enabled:
            raise ValueError("TLS is required: set tls.cert_file and tls.key_file (tls.client_ca_file for mutual "
                             "TLS), or server.insecure = true to serve plaintext (local use only)")
        return self

    def masked(self) -> dict:
        """The settings as JSON-able data with every token hash shortened (what ``stampauth config`` prints)."""
        data = json.loads(self.model_dump_json())
        for token in data["auth"]["tokens"]:
            token["sha256"] = token["sha256"][:8] + "..."
        return data


def _file_data(path: Path) -> dict:
    if not path.is_file():
        raise InvalidInput(f"configuration file {str(path)!r} does not exist")
    text = path.read_text()
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        import tomllib

        return tomllib.loads(text)
    except (ValueError, json.JSONDecodeError) as error:
        raise InvalidInput(f"configuration file {str(path)!r} cannot be parsed: {error}") from None


def _merge(base: dict, overrides: dict) -> dict:
    merged = dict(base)
    for key, value in overrides.items():
        merged[key] = _merge(merged.get(key, {}), value) if isinstance(value, dict) else value
    return merged


def load_settings(path: str | Path | None = None, overrides: dict | None = None) -> Settings:
    """File (TOML, or JSON by its suffix) < ``STAMPAUTH_*`` environment < ``overrides`` (nested dicts, e.g. from
    command-line flags; ``None`` values are left out). Raises :class:`InvalidInput` listing every problem."""
    file_data = _file_data(Path(path)) if path else {}
    env = EnvSettingsSource(Settings, env_prefix="STAMPAUTH_", env_nested_delimiter="__")()
    try:
        return Settings.model_validate(_merge(_merge(file_data, env), _drop_none(overrides or {})))
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in error.errors())
        raise InvalidInput(f"invalid configuration: {problems}") from None


def _drop_none(data: dict) -> dict:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            value = _drop_none(value)
            if value:
                out[key] = value
        elif value is not None:
            out[key] = value
    return out


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(name: str, tenant: str, roles: list[str]) -> tuple[str, TokenEntry]:
    """A fresh random bearer token and the entry that configures it (only its hash)."""
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", tenant):
        raise InvalidInput("a tenant is 1-64 letters, digits and '._-'")
    token = "sa_" + secrets.token_urlsafe(32)
    return token, TokenEntry(name=name, sha256=hash_token(token), tenant=tenant, roles=roles)
