"""API keys of the write API: created once, stored only as salted scrypt hashes.

A key is a random token ``twin_<id>_<secret>``; clients send it as ``X-API-Key: <token>`` or
``Authorization: Bearer <token>`` (the same token either way). The keys file (YAML, mode 0600,
by default ``api_keys.yml`` beside the pygeoapi config; ``TWIN_API_KEYS_PATH``) holds per key
its ``name`` (what the audit table records as "who"), ``id`` (the token's public part, to find
the entry without trying every hash), ``scopes`` (``street-damage:write``), whether writes must
carry ``If-Match`` (``require_if_match``), when it was created, and ``hash``: scrypt of the whole
token with a per-key salt. A token is compared hash against hash with
:func:`hmac.compare_digest`; the token itself is never stored, logged or printed again.

The server re-reads the file when it changes, so ``twin keys add``/``revoke`` take effect
without a restart.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from twin.errors import ConfigurationError

#: scrypt cost: 16 MiB and some 30-60 ms per check; the token has 256 random bits anyway,
#: the cost only guards a stolen keys file against a fast offline search.
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN = 2**14, 8, 1, 32
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SCOPE_PATTERN = re.compile(r"[a-z0-9-]+:(?:write)")
TOKEN_PATTERN = re.compile(r"twin_(?P<id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})")
#: Hash checked when a token names no key, so an unknown id costs as much as a wrong secret.
_DUMMY = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


@dataclass(frozen=True)
class ApiKey:
    """A key as the keys file describes it (the hash, never the token)."""

    name: str
    id: str
    scopes: tuple[str, ...]
    hash: str
    require_if_match: bool = True
    created_at: str = ""

    def allows(self, scope: str) -> bool:
        """Whether the key carries ``scope``."""
        return scope in self.scopes


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_token(token: str, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` of ``token``, with a fresh 16-byte salt unless given."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(token.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            dklen=SCRYPT_LEN, maxmem=64 * 1024 * 1024)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def token_matches(token: str, stored: str) -> bool:
    """Whether ``token`` hashes to ``stored``; compared in constant time."""
    try:
        kind, n, r, p, salt, expected = stored.split("$")
        if kind != "scrypt":
            return False
        digest = hashlib.scrypt(token.encode(), salt=base64.b64decode(salt), n=int(n),
                                r=int(r), p=int(p), dklen=len(base64.b64decode(expected)),
                                maxmem=64 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, base64.b64decode(expected))


class KeyStore:
    """The keys file: read (cached until the file changes), added to, revoked from."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._keys: dict[str, ApiKey] = {}

    # -- reading ----------------------------------------------------------------------------
    def keys(self) -> list[ApiKey]:
        """Every key, in file order; an absent file holds none."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._keys = None, {}
            return []
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self._keys = {k.id: k for k in self._read()}
            self._stamp = stamp
        return list(self._keys.values())

    def _read(self) -> list[ApiKey]:
        try:
            doc = yaml.safe_load(self.path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigurationError(f"{self.path}: not valid YAML ({exc})") from exc
        entries = doc.get("keys") if isinstance(doc, dict) else None
        if not isinstance(entries, list):
            raise ConfigurationError(f"{self.path}: expected a mapping with a list 'keys'")
        keys = []
        for number, entry in enumerate(entries, start=1):
            try:
                keys.append(ApiKey(
                    name=str(entry["name"]), id=str(entry["id"]),
                    scopes=tuple(str(s) for s in entry.get("scopes") or ()),
                    hash=str(entry["hash"]),
                    require_if_match=bool(entry.get("require_if_match", True)),
                    created_at=str(entry.get("created_at", ""))))
            except (KeyError, TypeError) as exc:
                raise ConfigurationError(
                    f"{self.path}: key {number} lacks {exc} (needs name, id, scopes, hash)"
                ) from None
        return keys

    def authenticate(self, token: str) -> ApiKey | None:
        """The key ``token`` belongs to, or None."""
        match = TOKEN_PATTERN.fullmatch(token.strip())
        key = self._by_id(match["id"]) if match else None
        # Hash even when nothing matched: no timing difference between "no such key" and
        # "wrong secret".
        ok = token_matches(token.strip(), key.hash if key else _DUMMY)
        return key if ok and key is not None else None

    def _by_id(self, key_id: str) -> ApiKey | None:
        self.keys()
        return self._keys.get(key_id)

    # -- changing ---------------------------------------------------------------------------
    def add(self, name: str, scopes: list[str], *, require_if_match: bool = True) -> str:
        """Create key ``name``; returns its token, which exists nowhere else afterwards."""
        if not NAME_PATTERN.fullmatch(name):
            raise ConfigurationError(f"key name '{name}' is not valid: letters, digits, '.', "
                                     "'_' and '-', at most 64, starting with a letter or digit")
        bad = [s for s in scopes if not SCOPE_PATTERN.fullmatch(s)]
        if bad or not scopes:
            raise ConfigurationError(f"scope {bad[0] if bad else '(none)'!r} is not valid; "
                                     "give e.g. --scope street-damage:write")
        keys = self.keys()
        if any(k.name == name for k in keys):
            raise ConfigurationError(f"a key named '{name}' exists in {self.path}; revoke it "
                                     "first or choose another name")
        key_id = secrets.token_hex(6)
        token = f"twin_{key_id}_{secrets.token_urlsafe(32)}"
        created = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
        self._write([*keys, ApiKey(name, key_id, tuple(scopes), hash_token(token),
                                   require_if_match, created)])
        return token

    def revoke(self, name: str) -> bool:
        """Remove key ``name``; False if there is none."""
        keys = self.keys()
        kept = [k for k in keys if k.name != name]
        if len(kept) == len(keys):
            return False
        self._write(kept)
        return True

    def _write(self, keys: list[ApiKey]) -> None:
        doc: dict[str, Any] = {"keys": [
            {"name": k.name, "id": k.id, "scopes": list(k.scopes),
             "require_if_match": k.require_if_match, "created_at": k.created_at,
             "hash": k.hash} for k in keys]}
        header = ("# API keys of the twin's write API (twin keys add/list/revoke).\n"
                  "# Salted scrypt hashes only: a key is shown once, when it is created.\n")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Written beside and renamed: a server reading it never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".api_keys.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._stamp = None


_STORES: dict[Path, KeyStore] = {}


def store_for(path: Path) -> KeyStore:
    """The (per-process) store of the keys file at ``path``."""
    return _STORES.setdefault(path, KeyStore(path))


def token_of(environ: dict) -> str | None:
    """The token a request carries (``X-API-Key`` or ``Authorization: Bearer``), or None."""
    key = environ.get("HTTP_X_API_KEY", "").strip()
    if key:
        return key
    scheme, _, value = environ.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None
