"""pygeoapi's Flask app, built for us: environment, our overrides, the start-up check.

pygeoapi reads its configuration and OpenAPI document when :mod:`pygeoapi.flask_app` is first
imported, from the paths in ``PYGEOAPI_CONFIG`` and ``PYGEOAPI_OPENAPI``; so the environment
is prepared and :func:`twin.pygeoapi.compat.check` has passed before that import. The app is
then wrapped in :class:`twin.pygeoapi.wsgi.TwinMiddleware`; :func:`twin.front.run` serves it.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from twin import logsafe, yamltext
from twin.errors import ConfigurationError
from twin.pygeoapi import STATIC_DIR, TEMPLATES_DIR, compat, conformance
from twin.pygeoapi.context import REQUEST
from twin.pygeoapi.wsgi import TwinMiddleware
from twin.settings import Settings, get_settings


def prepare_environment(settings: Settings) -> None:
    """Environment that pygeoapi and the config's placeholders read."""
    if not settings.config_path.exists():
        raise ConfigurationError(f"{settings.config_path} does not exist; run `twin config`")
    os.environ.update({
        "PYGEOAPI_CONFIG": str(settings.config_path),
        "PYGEOAPI_OPENAPI": str(served_openapi_path(settings)),
        "TWIN_DATABASE_URL": settings.dsn,
        "TWIN_PUBLIC_URL": settings.url,
        "TWIN_TEMPLATES_DIR": str(TEMPLATES_DIR),
        "TWIN_STATIC_DIR": str(STATIC_DIR),
        "TWIN_DATA_DIR": str(settings.data_dir),  # the coverages' files (twin/coverage.py)
        "TWIN_MQTT_PUBLIC_URL": settings.mqtt_public_url,  # the alerts' broker (pubsub)
        "PYGEOAPI_ASYNCAPI": str(asyncapi_path(settings)),
    })


def served_openapi_path(settings: Settings) -> Path:
    """The OpenAPI document as pygeoapi serves it, beside ``settings.openapi_path``: JSON text,
    which pygeoapi passes through as it is, where it parses a YAML document with PyYAML's
    pure-Python loader (1.4 s of every server start)."""
    return settings.openapi_path.with_suffix(".json")


def asyncapi_path(settings: Settings) -> Path:
    """Where the AsyncAPI document is written: beside the OpenAPI document."""
    return settings.openapi_path.with_name("asyncapi.yml")


def write_asyncapi(settings: Settings) -> Path:
    """Generate the AsyncAPI document pygeoapi serves at /asyncapi, from the current config.

    pygeoapi's generator gives every collection a channel; only ``sensor-alerts`` has
    messages (twin/alerts.py), so the others are dropped, and the message payload is described
    here instead of by a schema on GitHub (the document resolves without network).
    """
    from pygeoapi.asyncapi import get_asyncapi
    from pygeoapi.util import yaml_load

    from twin.alerts import COLLECTION_ID, EVENT_TYPE

    prepare_environment(settings)
    with settings.config_path.open(encoding="utf-8") as fh:
        doc = get_asyncapi(yaml_load(fh))
    key = f"notify-{COLLECTION_ID}"
    doc["channels"] = {k: v for k, v in doc["channels"].items() if k == key}
    doc["operations"] = {k: v for k, v in doc["operations"].items()
                         if k.endswith(f"-{COLLECTION_ID}")}
    for channel in doc["channels"].values():
        channel["description"] = ("Sensor alerts: a gauge reaches or leaves an alarm level, a "
                                  "tree's soil moisture crosses its wilting point")
        channel["messages"] = {"SensorAlert": {
            "name": "SensorAlert", "contentType": "application/json",
            "summary": "An OGC CloudEvent; data is the new sensor-alerts item as GeoJSON",
            "payload": {"type": "object", "required": ["specversion", "type", "id", "data"],
                        "properties": {
                            "specversion": {"const": "1.0"},
                            "type": {"const": EVENT_TYPE},
                            "source": {"type": "string"}, "subject": {"type": "string"},
                            "id": {"type": "string"}, "time": {"type": "string"},
                            "datacontenttype": {"const": "application/geo+json"},
                            "data": {"type": "object", "description": "A Feature of "
                                     f"/collections/{COLLECTION_ID}/items"}}}}}
    path = asyncapi_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yamltext.dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def write_openapi(settings: Settings) -> Path:
    """Generate the OpenAPI document pygeoapi serves, from the current config."""
    from pygeoapi.openapi import get_oas
    from pygeoapi.util import to_json, yaml_load

    from twin.openapi_bundle import bundle
    from twin.openapi_writes import add_write_operations
    from twin.pygeoapi_config import OFFERED_CRS

    prepare_environment(settings)
    # What pygeoapi's generate_openapi_document(config, "yaml") gives, read back: its
    # document dumped with sorted keys and loaded again. Done here with libyaml's emitter and
    # parser (same representer and resolver, so the same text and data) because the pure
    # Python ones took about a second of every server start.
    with settings.config_path.open(encoding="utf-8") as fh:
        config = yaml_load(fh)
    oas = get_oas(config)
    doc = yamltext.load(yamltext.dump(oas, sort_keys=True, default_flow_style=False))
    doc = add_write_operations(doc)  # street-damage's writes (twin/transactions.py)
    doc = bundle(doc, OFFERED_CRS)  # no reference leaves the document (twin/openapi_ogc/)
    settings.openapi_path.parent.mkdir(parents=True, exist_ok=True)
    served = served_openapi_path(settings)
    if served != settings.openapi_path:  # the YAML file for people and tools that read it
        text = yamltext.dump(doc, sort_keys=False, allow_unicode=True)
        settings.openapi_path.write_text(text, encoding="utf-8")
    # The bytes pygeoapi would send for the document parsed from YAML (its to_json).
    served.write_text(to_json(doc, bool(config["server"].get("pretty_print"))), encoding="utf-8")
    return settings.openapi_path


def create_app(settings: Settings | None = None, *, checked: bool = False) -> TwinMiddleware:
    """The WSGI application: pygeoapi's Flask app wrapped in :class:`TwinMiddleware`.

    ``checked``: :func:`twin.pygeoapi.compat.check` already passed in this process for these
    settings (:func:`twin.front.run` checks before it writes the OpenAPI document), so it is
    not run twice.

    Raises
    ------
    ConfigurationError
        When the config is missing, or pygeoapi no longer has what this package relies on
        (:func:`twin.pygeoapi.compat.check`).
    """
    settings = settings or get_settings()
    prepare_environment(settings)
    if not checked:
        compat.check(settings)  # before pygeoapi reads anything
    conformance.install()
    from pygeoapi.api import API
    from pygeoapi.flask_app import APP

    _quiet_client_errors(API)
    logsafe.install(settings.log_value_chars)
    return TwinMiddleware(APP, settings)


def _quiet_client_errors(api: type) -> None:
    """pygeoapi logs every error answer with its traceback; keep those for faults only.

    ``API.get_exception(self, status, ...)`` is an internal method every error answer passes;
    :func:`twin.pygeoapi.compat.check` verifies its signature.
    """
    original = api.get_exception
    if getattr(original, "_twin", False):
        return

    @functools.wraps(original)  # so the check still sees pygeoapi's signature
    def get_exception(self: Any, status: int, *args: Any, **kwargs: Any) -> Any:
        state = REQUEST.get()
        # A refused expensive request (503) is a limit at work, not a fault to debug either.
        quiet = int(status) < 500 or (state is not None and state.refusal is not None)
        token = logsafe.CLIENT_ERROR.set(quiet)
        try:
            return original(self, status, *args, **kwargs)
        finally:
            logsafe.CLIENT_ERROR.reset(token)

    get_exception._twin = True  # type: ignore[attr-defined]
    api.get_exception = get_exception
