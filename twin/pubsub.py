"""The MQTT client that publishes sensor alerts, as a pygeoapi pub/sub plugin.

Named in config/pygeoapi.yml's ``pubsub`` section (``name: twin.pubsub.AlertPubSubClient``),
so pygeoapi links the broker from the landing page (rel ``hub``), declares OGC API - Pub/Sub
and generates the AsyncAPI document of the channel; twin/alerts.py publishes through it.

Why not pygeoapi's own ``MQTTPubSubClient``: it connects anew for every message without a
network loop and does not wait for the broker's PUBACK (a ``TODO`` in its ``pub``), so a QoS 1
message can be lost and each message leaks a connection. This client keeps one connection with
paho's network thread, waits for the acknowledgement, and connects only when it sends. It sends
only sensor alerts: pygeoapi would also announce each process execution, which the broker's ACL
does not allow the twin (so it is not attempted).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from paho.mqtt import client as mqtt_client
from pygeoapi.pubsub.base import BasePubSubClient, PubSubClientConnectionError

LOGGER = logging.getLogger(__name__)
#: Seconds to wait for CONNACK and for a PUBACK.
TIMEOUT_S = 5.0
#: The one kind of message this client sends: new items of the alerts collection.
ALERTS_SUFFIX = "collections/sensor-alerts"


class AlertPubSubClient(BasePubSubClient):
    """QoS 1 MQTT publisher of sensor alerts (see the module)."""

    def __init__(self, publisher_def: dict) -> None:
        super().__init__(publisher_def)
        self.type = "mqtt"
        self.port = self.broker_url.port or (8883 if self.broker_url.scheme == "mqtts"
                                             else 1883)
        self.client_id = f"twin-alerts-{os.getpid()}-{id(self):x}"
        self._client: Any = None
        self._lock = threading.Lock()

    @classmethod
    def for_url(cls, url: str, channel: str | None) -> AlertPubSubClient:
        return cls({"name": "twin-alerts", "broker": {"url": url, "channel": channel}})

    def connect(self) -> None:
        """Nothing until a message is sent (pygeoapi calls this before every ``pub``)."""

    def _connected(self) -> Any:
        with self._lock:
            if self._client is not None and self._client.is_connected():
                return self._client
            client = mqtt_client.Client(mqtt_client.CallbackAPIVersion.VERSION2,
                                        client_id=self.client_id)
            if self.broker_url.username:
                client.username_pw_set(self.broker_url.username, self.broker_url.password)
            if self.broker_url.scheme == "mqtts":
                client.tls_set()
            ready = threading.Event()
            result: dict[str, Any] = {}

            def on_connect(c: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
                result["reason"] = reason
                ready.set()

            client.on_connect = on_connect
            try:
                client.connect(self.broker_url.hostname, self.port, keepalive=30)
            except OSError as exc:
                raise PubSubClientConnectionError(
                    f"cannot reach the broker {self.broker_safe_url}: {exc}") from exc
            client.loop_start()
            if not ready.wait(TIMEOUT_S) or result["reason"].is_failure:
                client.loop_stop()
                client.disconnect()
                raise PubSubClientConnectionError(
                    f"the broker {self.broker_safe_url} refused the connection: "
                    f"{result.get('reason', 'no answer')}")
            self._client = client
            return client

    def pub(self, channel: str, message: str, qos: int = 1) -> bool:
        """Publish and wait for the broker's acknowledgement; True when it came."""
        if not channel.endswith(ALERTS_SUFFIX):
            LOGGER.debug("not publishing on %s: only sensor alerts are sent", channel)
            return False
        info = self._connected().publish(channel, message, qos=qos)
        info.wait_for_publish(TIMEOUT_S)
        return info.is_published()

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.loop_stop()
                self._client.disconnect()
                self._client = None

    def __repr__(self) -> str:
        return f"<AlertPubSubClient> {self.broker_safe_url}"
