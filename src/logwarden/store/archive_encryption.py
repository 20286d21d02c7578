"""Encryption of archive files: Parquet modular encryption (AES-GCM) with one data key per file, from a KMS-style
key provider.

Each new file gets its own data key from the provider (`new_data_key`), which also returns the key's metadata:
what the provider needs to give the same data key back (`data_key`). The metadata and the master key's name are
kept beside the file in `<file>.key` (JSON; nothing secret in it), written and fsynced before the file gets its
name, so an encrypted file never exists without it. The file itself is encrypted uniformly (footer and every
column, AES_GCM_V1) with the data key by pyarrow: without the key, pyarrow, DuckDB, Spark or Trino cannot read
its schema or its rows. logwarden gives DuckDB each file's data key (`PRAGMA add_parquet_key`) and reads it with
`encryption_config`.

A real KMS implements `KeyProvider` as its GenerateDataKey (plaintext key + encrypted blob as metadata) and
Decrypt (the blob back to the key); the master keys never leave it. The built-in `ConfigKeyProvider` holds
master keys from the config (`archive.encryption.keys`, values from the environment with `env:NAME`) and derives
each file's data key as HMAC-SHA256(master key, random salt): the metadata is the salt and a check value that
tells a wrong master key from a damaged file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from logwarden.lazy import lazy_module

if TYPE_CHECKING:
    import pyarrow.parquet.encryption as pe
else:
    # ~5 MB resident with pyarrow.parquet and pyarrow.fs: only an encrypted archive needs it.
    pe = lazy_module("pyarrow.parquet.encryption")

SIDECAR_SUFFIX = ".key"
ALGORITHM = "AES_GCM_V1"
_SALT_BYTES = 16
_CHECK_BYTES = 16


class ArchiveKeyError(Exception):
    """A file's key cannot be had: the master key is not configured, is the wrong one, or the key file is damaged."""


class KeyProvider(Protocol):
    """Where data keys come from (a KMS, or the built-in ConfigKeyProvider)."""

    name: str

    def new_data_key(self, key_name: str) -> tuple[bytes, bytes]:
        """A fresh 32-byte data key under master key `key_name`, and the metadata `data_key` needs to give it back."""
        ...

    def data_key(self, key_name: str, metadata: bytes) -> bytes:
        """The data key `new_data_key` returned with `metadata`; ArchiveKeyError when it cannot be had."""
        ...


class ConfigKeyProvider:
    """Master keys held in the process (from the config): data key = HMAC-SHA256(master key, per-file salt)."""

    name = "config"

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        self._keys = dict(keys)

    def _master(self, key_name: str) -> bytes:
        master = self._keys.get(key_name)
        if master is None:
            known = ", ".join(sorted(self._keys)) or "none"
            raise ArchiveKeyError(
                f"master key {key_name!r} is not in archive.encryption.keys (configured: {known}); "
                "add it back to read files it encrypted"
            )
        return master

    def new_data_key(self, key_name: str) -> tuple[bytes, bytes]:
        salt = os.urandom(_SALT_BYTES)
        return self._derive(key_name, salt), salt + self._check(key_name, salt)

    def data_key(self, key_name: str, metadata: bytes) -> bytes:
        salt, check = metadata[:_SALT_BYTES], metadata[_SALT_BYTES:]
        if len(salt) != _SALT_BYTES or len(check) != _CHECK_BYTES:
            raise ArchiveKeyError("the key metadata is damaged")
        if not hmac.compare_digest(check, self._check(key_name, salt)):
            raise ArchiveKeyError(f"master key {key_name!r} is not the key that encrypted this file (wrong key value)")
        return self._derive(key_name, salt)

    def _derive(self, key_name: str, salt: bytes) -> bytes:
        return hmac.digest(self._master(key_name), b"logwarden archive data key\x00" + salt, hashlib.sha256)

    def _check(self, key_name: str, salt: bytes) -> bytes:
        return hmac.digest(self._master(key_name), b"logwarden archive key check\x00" + salt, hashlib.sha256)[
            :_CHECK_BYTES
        ]


@dataclass(frozen=True, slots=True)
class FileKey:
    """The data key of one file, with what its key file records (master key name and provider metadata)."""

    key_name: str
    metadata: bytes
    data_key: bytes

    def sidecar(self, provider: str) -> bytes:
        """The `<file>.key` JSON (no secret in it)."""
        return orjson.dumps(
            {
                "format": 1,
                "provider": provider,
                "key": self.key_name,
                "metadata": base64.b64encode(self.metadata).decode(),
                "algorithm": ALGORITHM,
            }
        )

    def duckdb_name(self) -> str:
        """The name DuckDB knows the data key by (`PRAGMA add_parquet_key`)."""
        return "lw_" + hashlib.sha256(self.data_key).hexdigest()[:24]

    def duckdb_value(self) -> str:
        return base64.b64encode(self.data_key).decode()


class ArchiveEncryption:
    """Encrypts new files under the current master key and finds the key of any file from its key file."""

    def __init__(self, provider: KeyProvider, current: str) -> None:
        self.provider = provider
        self.current = current

    def new_file_key(self) -> FileKey:
        data_key, metadata = self.provider.new_data_key(self.current)
        return FileKey(self.current, metadata, data_key)

    @staticmethod
    def properties(key: FileKey) -> Any:
        """pyarrow FileEncryptionProperties: footer and every column encrypted with the file's data key."""
        return pe.create_encryption_properties(key.data_key, encryption_algorithm=ALGORITHM)

    def file_key(self, sidecar: bytes, where: str) -> FileKey:
        """The key of the file whose key file holds `sidecar`; ArchiveKeyError naming `where` otherwise."""
        try:
            doc = orjson.loads(sidecar)
            key_name, metadata = str(doc["key"]), base64.b64decode(doc["metadata"], validate=True)
        except (orjson.JSONDecodeError, KeyError, TypeError, binascii.Error) as exc:
            raise ArchiveKeyError(f"archive key file {where} is damaged: {exc}") from None
        try:
            return FileKey(key_name, metadata, self.provider.data_key(key_name, metadata))
        except ArchiveKeyError as exc:
            raise ArchiveKeyError(f"archive file {where.removesuffix(SIDECAR_SUFFIX)}: {exc}") from None


def parse_master_key(value: str, env: Mapping[str, str], field: str) -> bytes:
    """A master key from its config value (`env:NAME` or base64 of 16, 24 or 32 bytes); ValueError naming `field`."""
    text = value
    if value.startswith("env:"):
        name = value[4:]
        found = env.get(name)
        if not found:
            raise ValueError(f"{field}: environment variable {name} is not set (it must hold the key)")
        text = found
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except binascii.Error:
        key = b""
    if len(key) not in (16, 24, 32):
        raise ValueError(f"{field}: not base64 of a 16, 24 or 32 byte key (make one with: openssl rand -base64 32)")
    return key


def from_config(config: Any, env: Mapping[str, str] | None = None) -> ArchiveEncryption | None:
    """The encryption `archive.encryption` (an ArchiveEncryptionConfig) configures, or None when it is off;
    ValueError naming the field for a key that is missing or malformed."""
    if not config.keys:
        return None
    source = os.environ if env is None else env
    keys = {
        name: parse_master_key(secret.get_secret_value(), source, f"archive.encryption.keys.{name}")
        for name, secret in config.keys.items()
    }
    return ArchiveEncryption(ConfigKeyProvider(keys), config.current_key)
