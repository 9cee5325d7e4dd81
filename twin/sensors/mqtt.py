"""`twin ingest mqtt`: the subscriber. paho-mqtt receives; twin/sensors/store.py stores.

- MQTT v5, QoS 1, a fixed client id, ``clean_start=False`` and a session that never expires:
  while the intake is away the broker keeps its subscriptions and queues its messages.
- ``manual_ack``: paho acknowledges nothing by itself. A message is acknowledged (PUBACK) only
  after the COPY batch it belongs to committed, so a broker, database or intake failure at
  any moment leaves every unacknowledged message with the broker, which sends it again; the
  replay key stores it once.
- Acknowledgements go only to the connection that delivered the message: after a reconnect
  the broker resends what was unacknowledged, and an old packet id must not acknowledge a
  new message.
- Reconnect with back-off: paho's own (1 s doubling to 30 s) for the broker; the database is
  retried with the same back-off while the batch waits in memory, unacknowledged.
- A message that cannot be stored is quarantined and acknowledged; it never stops the loop.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from twin.errors import ConfigurationError
from twin.sensors.store import Incoming, Store
from twin.settings import Settings

log = logging.getLogger("twin.sensors")

#: Session Expiry Interval that means "never" (MQTT v5, 3.1.2.11.2).
SESSION_NEVER_EXPIRES = 0xFFFFFFFF


@dataclass(frozen=True)
class BrokerUrl:
    host: str
    port: int
    username: str | None
    password: str | None


def parse_url(url: str) -> BrokerUrl:
    """``mqtt://[user[:password]@]host[:port]`` (1883 by default)."""
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise ConfigurationError(f"not an MQTT URL (mqtt://user:password@host:port): "
                                 f"{parts.scheme}://{parts.hostname or ''}")
    return BrokerUrl(parts.hostname, parts.port or 1883,
                     unquote(parts.username) if parts.username else None,
                     unquote(parts.password) if parts.password else None)


@dataclass(frozen=True)
class _Token:
    mid: int
    qos: int
    generation: int


class Intake:
    """Subscribe, batch, store, acknowledge; until :meth:`stop`."""

    def __init__(self, url: str, topics: list[str], *, settings: Settings | None = None,
                 client_id: str = "twin-intake", batch_size: int = 5000,
                 max_wait: float = 0.2) -> None:
        self.url = parse_url(url)
        self.topics = topics
        self.store = Store(settings)
        self.store.alert_url = url  # the intake's user may write the alert topic (ACL)
        self.batch_size = batch_size
        self.max_wait = max_wait
        self._queue: queue.SimpleQueue[Incoming] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._generation = 0
        self._lock = threading.Lock()
        self.connected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5, manual_ack=True)
        if self.url.username:
            self.client.username_pw_set(self.url.username, self.url.password)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    # -- paho's thread ----------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags,
                    reason: mqtt.ReasonCode, properties: Properties | None) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        with self._lock:
            self._generation += 1
        # With a resumed session the subscriptions exist; subscribing again is harmless and
        # covers a broker that lost its persistence.
        client.subscribe([(t, 1) for t in self.topics])
        log.info("connected to %s:%s (session %s)", self.url.host, self.url.port,
                 "resumed" if flags.session_present else "new")
        self.connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: object,
                       flags: mqtt.DisconnectFlags, reason: mqtt.ReasonCode,
                       properties: Properties | None) -> None:
        self.connected.clear()
        with self._lock:
            self._generation += 1  # what was delivered before is no longer ours to ack
        if not self._stop.is_set():
            log.warning("disconnected from the broker (%s); reconnecting", reason)

    def _on_message(self, client: mqtt.Client, userdata: object,
                    message: mqtt.MQTTMessage) -> None:
        self._queue.put(Incoming(message.topic, message.payload,
                                 _Token(message.mid, message.qos, self._generation)))

    # -- the main thread ------------------------------------------------------------------
    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_NEVER_EXPIRES
        props.ReceiveMaximum = 65535
        self.client.connect_async(self.url.host, self.url.port, keepalive=30,
                                  clean_start=False, properties=props)
        self.client.loop_start()

    def stop(self) -> None:
        self._stop.set()

    def _take(self) -> list[Incoming]:
        batch: list[Incoming] = []
        try:
            batch.append(self._queue.get(timeout=0.5))
        except queue.Empty:
            return batch
        deadline = time.monotonic() + self.max_wait
        while len(batch) < self.batch_size:
            remaining = deadline - time.monotonic()
            try:
                batch.append(self._queue.get(timeout=max(remaining, 0)) if remaining > 0
                             else self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _store(self, batch: list[Incoming]) -> None:
        """Store ``batch``, retrying the database with back-off until it commits."""
        delay = 0.5
        while True:
            try:
                result = self.store.write(batch)
                break
            except psycopg.OperationalError as exc:
                log.warning("database unavailable (%s); retrying in %.1f s with %d messages "
                            "unacknowledged", str(exc).splitlines()[0], delay, len(batch))
                if self._stop.wait(delay):
                    raise
                delay = min(delay * 2, 30.0)
        with self._lock:
            generation = self._generation
        acked = 0
        for item in batch:
            token = item.token
            if token.qos and token.generation == generation:
                self.client.ack(token.mid, token.qos)
                acked += 1
        if result.quarantined:
            log.info("quarantined %s", dict(result.quarantined))
        log.debug("batch of %d: stored %d, replayed %d, acknowledged %d", len(batch),
                  result.stored, result.replayed, acked)

    def run(self) -> None:
        """Until :meth:`stop` (or SIGTERM/SIGINT via :func:`run_intake`)."""
        self.start()
        last_report = time.monotonic()
        last_prune = -1e9
        try:
            while not self._stop.is_set():
                batch = self._take()
                if batch:
                    try:
                        self._store(batch)
                    except psycopg.OperationalError:
                        break  # stopping while the database is away: nothing acknowledged
                if time.monotonic() - last_prune > 86400:
                    try:
                        self.store.prune()
                        last_prune = time.monotonic()
                    except psycopg.OperationalError:
                        pass  # the database is away; the next loop tries again
                if time.monotonic() - last_report > 10:
                    last_report = time.monotonic()
                    self._report()
        finally:
            self.client.disconnect()
            self.client.loop_stop()
            self.store.close()
            self._report()

    def _report(self) -> None:
        t = self.store.totals
        log.info("stored %d, replayed %d, quarantined %d %s", t.stored, t.replayed,
                 sum(t.quarantined.values()), dict(t.quarantined) or "")


def run_intake(url: str, topics: list[str], *, client_id: str, batch_size: int,
               max_wait: float, settings: Settings | None = None) -> Intake:
    """Run the intake in the foreground; SIGTERM and SIGINT stop it after the current batch."""
    intake = Intake(url, topics, settings=settings, client_id=client_id,
                    batch_size=batch_size, max_wait=max_wait)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: intake.stop())
    intake.run()
    return intake
