"""Typed settings, read from the environment with the ``TWIN_`` prefix.

This is the lowest floor of the package: it imports nothing of ours.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Repository root when running from a checkout (editable install).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Storage CRS of every published table: ETRS89 / UTM zone 33N, Brandenburg's official CRS.
STORAGE_SRID = 25833
STORAGE_CRS_URI = f"http://www.opengis.net/def/crs/EPSG/0/{STORAGE_SRID}"


class Settings(BaseSettings):
    """Settings of the twin; every field can be set as ``TWIN_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="TWIN_", extra="ignore")

    # A plain string: libpq reads forms a URL type refuses (postgresql:///twin?host=/run/...).
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/twin",
        description="libpq connection string or URL of the twin's database",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=5000, ge=1, le=65535)
    public_url: str | None = Field(
        default=None, description="Base URL the API is reached at (default http://HOST:PORT)"
    )
    workers: int = Field(default=2, ge=1, le=64)
    config_path: Path = PROJECT_ROOT / "config" / "pygeoapi.yml"
    openapi_path: Path = PROJECT_ROOT / "config" / "openapi.yml"
    samples_dir: Path = PROJECT_ROOT / "data" / "samples"
    batch_size: int = Field(default=5000, ge=1)
    max_items: int = Field(default=10000, ge=1, description="Largest page a client may ask for")
    default_items: int = Field(default=10, ge=1)
    statement_timeout_ms: int = Field(default=30000, ge=100)
    api_keys_path: Path | None = Field(
        default=None, description="Keys file of the write API (default: api_keys.yml beside "
        "the pygeoapi config); holds names, scopes and salted hashes, never a key")
    max_write_body: int = Field(default=65536, ge=1024,
                                description="Largest write request body in bytes (else 413)")

    @property
    def dsn(self) -> str:
        """The database URL as a plain string for libpq."""
        return self.database_url

    @property
    def keys_path(self) -> Path:
        """The keys file of the write API."""
        return self.api_keys_path or self.config_path.parent / "api_keys.yml"

    @property
    def url(self) -> str:
        """Public base URL of the API."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, built once per process."""
    return Settings()
