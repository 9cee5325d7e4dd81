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


#: The service's contact address, shown on every HTML page and in the landing page's
#: metadata; the config keeps it a ``${TWIN_CONTACT_EMAIL:-...}`` placeholder.
DEFAULT_CONTACT_EMAIL = "stadtverwaltung@cottbus.de"


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
    data_dir: Path = Field(
        default=PROJECT_ROOT / "var", description="Where loads write what is not a table: "
        "the terrain's Cloud-Optimised GeoTIFF (created when first needed)")
    batch_size: int = Field(default=5000, ge=1)
    land_key: str = Field(
        default="12", pattern=r"^(0[1-9]|1[0-6])$",
        description="Länderschlüssel of the state whose parcels the twin publishes (12: "
        "Brandenburg); a parcel key (Flurstückskennzeichen) of another Land is refused")
    max_items: int = Field(default=10000, ge=1, description="Largest page a client may ask for")
    default_items: int = Field(default=10, ge=1)
    statement_timeout_ms: int = Field(default=30000, ge=100)
    count_limit: int = Field(
        default=10000, ge=0, description="numberMatched is given when at most this many items "
        "match (beyond, counting them costs more than the page; resulttype=hits always "
        "counts); 0: always count")
    api_keys_path: Path | None = Field(
        default=None, description="Keys file of the write API (default: api_keys.yml beside "
        "the pygeoapi config); holds names, scopes and salted hashes, never a key")
    max_write_body: int = Field(default=65536, ge=1024,
                                description="Largest write request body in bytes (else 413)")
    # -- denial of service: every limit a client can meet is here, and each is named in
    #    the 4xx/429/503 answer that enforces it.
    request_timeout_s: float = Field(
        default=20.0, gt=0, description="Deadline of one request's database work, all "
        "statements together; a query that needs longer is answered 400")
    read_timeout_s: float = Field(
        default=10.0, gt=0, description="Time a client has to send a request's headers, and "
        "again its body; then the connection is closed (408)")
    threads: int = Field(default=8, ge=1, le=64,
                         description="Request threads per worker process")
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024,
                                description="Largest request body (CQL2 JSON, process input)")
    max_filter_chars: int = Field(default=500_000, ge=100,
                                  description="Longest filter, as text or CQL2 JSON")
    max_vertices: int = Field(default=10_000, ge=5,
                              description="Most vertices of all geometries in one filter")
    max_in_values: int = Field(default=1_000, ge=1, description="Longest IN list in a filter")
    max_json_depth: int = Field(default=64, ge=4,
                                description="Deepest nesting of a JSON body or a filter")
    expensive_limit: int = Field(
        default=1000, ge=1, description="A page larger than this makes a request expensive")
    expensive_slots: int = Field(
        default=4, ge=1, description="Expensive requests at once, all clients and API "
        "processes on one database together")
    expensive_per_client: int = Field(
        default=2, ge=1, description="Expensive requests at once from one client")
    trusted_proxies: str = Field(
        default="", description="Comma-separated addresses of reverse proxies whose "
        "X-Forwarded-For names the client; empty: the peer address is the client")
    cors_origins: str = Field(
        default="*", description="Comma-separated origins allowed by CORS, or * (public API)")
    max_coverage_cells: int = Field(
        default=1_000_000, ge=1, description="Most grid cells one coverage answer may hold "
        "(1,000,000: a square kilometre of the terrain at 1 m); ask for a smaller bbox or "
        "scale down to stay within it")
    fast_lane: bool = Field(
        default=True, description="Answer GeoJSON items and features in the event loop "
        "(twin/fastlane.py); false: every request goes through pygeoapi")
    batch_path: bool = Field(
        default=True, description="Stage a batch whose records need no conversion, repair or "
        "refusal straight from GDAL's Arrow arrays as binary COPY (etl/batch_path.py); false: "
        "every record takes the row path")
    # -- sensors (issue 12)
    sensor_retention_months: int = Field(
        default=24, ge=1, description="Months of sensor observations kept: older monthly "
        "partitions (and quarantined messages) are dropped by the intake when it starts "
        "and once a day")
    sensor_partitions_ahead: int = Field(
        default=2, ge=1, description="Monthly partitions of sensor observations created "
        "ahead of the current month")
    sensor_thresholds_path: Path = Field(
        default=PROJECT_ROOT / "config" / "sensor_thresholds.yml", description="Alarm levels "
        "of the gauges and wilting points of the trees (twin/alerts.py); sources inside")
    mqtt_alert_url: str | None = Field(
        default=None, description="Broker the intake publishes alerts to, "
        "mqtt://user:password@host:port (default: the intake's own --url)")
    mqtt_alert_channel: str = Field(
        default="twin/alerts", description="Topic prefix of the alerts: they go to "
        "<channel>/collections/sensor-alerts (pygeoapi's pub/sub layout)")
    mqtt_public_url: str = Field(
        default="mqtt://127.0.0.1:1884", description="The broker as clients reach it, "
        "without credentials: linked from the landing page and the AsyncAPI document")
    edr_max_steps: int = Field(
        default=100_000, ge=10, description="Most time steps (all stations together) of one "
        "EDR answer; a longer series is refused with a hint to ask for hourly or daily means "
        "(resolution=PT1H, P1D), never cut")
    edr_position_tolerance_m: float = Field(
        default=250.0, gt=0, description="How far from an EDR position query's point a "
        "station may stand and still answer it (the nearest one answers)")
    log_value_chars: int = Field(default=500, ge=50,
                                 description="Longest logged message; the rest is cut")

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
