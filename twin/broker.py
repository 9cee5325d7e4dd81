"""Debian's mosquitto, run by the twin on a port of its own: config, password file, ACL.

Used by the tests (tests/conftest.py ``mqtt_broker``) and by ``make demo``. The broker a host
may already run (1883) is never touched. Three users, each allowed only what its role needs:

- ``twin``: reads uplinks (The Things Stack ``v3/+/devices/+/up``, ChirpStack
  ``application/+/device/+/event/up``) and writes alerts (``twin/alerts/#``); nothing else.
- ``lns``: the LoRaWAN network server (or the simulator): writes uplinks only.
- ``dashboard``: reads alerts only (a Masterportal instance, the viewer).

Anonymous clients are refused. The broker persists sessions and queued messages to disk, so a
restart (SIGTERM: mosquitto saves on exit) keeps what it had acknowledged to publishers.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from twin.errors import ConfigurationError

MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"

#: Topic filters of uplinks: The Things Stack v3 and ChirpStack v4 (their default MQTT
#: integration topics).
TTS_UPLINK_TOPIC = "v3/+/devices/+/up"
CHIRPSTACK_UPLINK_TOPIC = "application/+/device/+/event/up"
#: Where alerts go (the publishing side writes ``twin/alerts/<collection>/<id>``).
ALERT_TOPIC = "twin/alerts/#"

#: user -> ACL lines (``topic read|write|readwrite <filter>``). Nothing listed, nothing allowed.
ACL: dict[str, tuple[str, ...]] = {
    "twin": (f"topic read {TTS_UPLINK_TOPIC}", f"topic read {CHIRPSTACK_UPLINK_TOPIC}",
             f"topic write {ALERT_TOPIC}"),
    "lns": (f"topic write {TTS_UPLINK_TOPIC}", f"topic write {CHIRPSTACK_UPLINK_TOPIC}"),
    "dashboard": (f"topic read {ALERT_TOPIC}",),
}


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Broker:
    """A mosquitto process with its own directory: ``mosquitto.conf``, ``passwd``, ``acl``,
    the persistence file and the log. ``passwords`` maps each user of :data:`ACL` to its
    password (generated when not given)."""

    directory: Path
    port: int = 0
    host: str = "127.0.0.1"
    passwords: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        if not Path(MOSQUITTO).exists():
            raise ConfigurationError(
                "mosquitto is not installed; run `make setup` (scripts/setup_mosquitto.sh)")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        for user in ACL:
            self.passwords.setdefault(user, os.urandom(12).hex())
        self._write_files()

    # -- what clients need ------------------------------------------------------------------
    def url(self, user: str = "twin") -> str:
        """``mqtt://user:password@host:port`` for one of the users."""
        return f"mqtt://{user}:{self.passwords[user]}@{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory / "mosquitto.log"

    # -- files --------------------------------------------------------------------------------
    def _write_files(self) -> None:
        d = self.directory
        passwd = d / "passwd"
        passwd.unlink(missing_ok=True)
        passwd.touch(mode=0o600)
        for user, password in self.passwords.items():
            subprocess.run([MOSQUITTO_PASSWD, "-b", str(passwd), user, password], check=True,
                           capture_output=True)
        acl = "".join(f"user {user}\n" + "".join(f"{line}\n" for line in lines) + "\n"
                      for user, lines in ACL.items())
        (d / "acl").write_text(acl)
        (d / "acl").chmod(0o600)
        (d / "mosquitto.conf").write_text("\n".join([
            f"listener {self.port} {self.host}",
            "allow_anonymous false",
            f"password_file {passwd}",
            f"acl_file {d / 'acl'}",
            "persistence true",
            f"persistence_location {d}/",
            # Queued messages of a disconnected persistent session survive a restart only if
            # saved; every 5 s and on exit (SIGTERM).
            "autosave_interval 5",
            # The twin acknowledges after its COPY commits, so many messages are in flight at
            # once; 20 (the default) would cap a batch at 20. Queue unbounded while the twin is
            # away (a database restart): dropping would lose acknowledged uplinks.
            "max_inflight_messages 0",
            "max_queued_messages 0",
            f"log_dest file {self.log_path}",
            "log_type error", "log_type warning", "log_type notice", "log_type subscribe",
            "connection_messages true",
            # Run as whoever starts it (root in CI): the files above are private to that user.
            "user root" if os.geteuid() == 0 else "",
            "",
        ]))

    # -- process --------------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> Broker:
        """Start mosquitto and wait until it accepts connections."""
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.directory / "mosquitto.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise ConfigurationError(f"mosquitto exited: {err} {self._log_tail()}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise ConfigurationError(f"mosquitto did not listen on {self.port}: {self._log_tail()}")

    def stop(self, *, kill: bool = False) -> None:
        """Stop mosquitto: SIGTERM (it saves its persistence file) or SIGKILL."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        """Stop and start again on the same port with the same persistence."""
        self.stop()
        self.start()

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def remove(self) -> None:
        """Stop and delete the directory."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
