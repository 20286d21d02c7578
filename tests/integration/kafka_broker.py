"""A real single-node Kafka broker (KRaft mode) for the integration tests, run with the machine's Java.

How it works
------------
1. Jars: a generated `pom.xml` depending on `org.apache.kafka:kafka_2.13:{KAFKA_VERSION}` (plus
   `slf4j-reload4j` for the broker's log4j logging) is resolved by Maven from Maven Central with
   `mvn -B -q dependency:copy-dependencies` into `~/.cache/logwarden-test/kafka-{KAFKA_VERSION}/lib`
   (about 56 jars, 46 MB; override the directory with LOGWARDEN_TEST_KAFKA_CACHE). The first run
   downloads them (and Maven's dependency plugin into ~/.m2): about 10 s on a fast link, up to a
   minute or two on a slow one; later runs reuse the directory (a `.complete` marker, a file lock for
   concurrent pytest processes) and need no network.
2. Format: `java -cp lib/* kafka.tools.StorageTool format -t <cluster id> -c server.properties`
   writes the KRaft metadata into a temporary log dir (under a second).
3. Start: `java -Xmx256m -cp lib/* kafka.Kafka server.properties` with
   `process.roles=broker,controller`, a PLAINTEXT and a CONTROLLER listener on two free loopback
   ports, one partition for the offsets topic, and no initial rebalance delay.
4. Ready: when an AdminClient lists the broker's metadata (about 2-5 s after the start).
5. Stop: SIGTERM (controlled shutdown), SIGKILL after 30 s; the temporary directory is removed.

Java and Maven missing is an error, not a skip: CI must run these tests. The broker's own log is
`<tmp>/broker.log`; a failure to start prints its tail.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tests.conftest import free_port

KAFKA_VERSION = "3.9.1"
SLF4J_VERSION = "1.7.36"

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.logwarden.test</groupId>
  <artifactId>kafka-broker-classpath</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>{kafka}</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>{slf4j}</version>
    </dependency>
  </dependencies>
</project>
"""

_LOG4J = """log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
"""


class KafkaHarnessError(Exception):
    """The broker cannot be provided (no Java or Maven, a failed download, a broker that won't start)."""


def cache_dir() -> Path:
    root = os.environ.get("LOGWARDEN_TEST_KAFKA_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "logwarden-test"
    return base / f"kafka-{KAFKA_VERSION}"


def _require(tool: str, why: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise KafkaHarnessError(
            f"`{tool}` is not on PATH: the Kafka integration tests need it {why}. "
            "Install a JDK (17+) and Maven (apt-get install openjdk-17-jre-headless maven)."
        )
    return path


def ensure_kafka_jars() -> Path:
    """The directory of the broker's jars, downloaded by Maven on first use."""
    root = cache_dir()
    lib = root / "lib"
    marker = root / ".complete"
    if marker.exists():
        return lib
    mvn = _require("mvn", "to download Apache Kafka from Maven Central")
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another pytest process may be downloading the same jars
        if marker.exists():
            return lib
        (root / "pom.xml").write_text(_POM.format(kafka=KAFKA_VERSION, slf4j=SLF4J_VERSION))
        shutil.rmtree(lib, ignore_errors=True)
        started = time.monotonic()
        proc = subprocess.run(
            [
                mvn,
                "-B",
                "-q",
                "-f",
                str(root / "pom.xml"),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={lib}",
                "-DincludeScope=runtime",
            ],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if proc.returncode != 0 or not any(lib.glob("kafka_2.13-*.jar")):
            raise KafkaHarnessError(
                f"Maven could not fetch org.apache.kafka:kafka_2.13:{KAFKA_VERSION} (exit {proc.returncode}):\n"
                f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            )
        marker.write_text(f"downloaded in {time.monotonic() - started:.1f}s\n")
    return lib


def _die_with_parent() -> list[str]:
    """A command prefix that SIGTERMs the broker when the test process dies, even by SIGKILL (util-linux
    `setpriv --pdeathsig`, in every Debian); nothing where it is missing (atexit still covers clean exits)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


def _cluster_id() -> str:
    # Kafka's Uuid.toString(): URL-safe base64 of 16 random bytes, without padding.
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


class KafkaBroker:
    """One broker+controller process on loopback; `bootstrap` is its PLAINTEXT address."""

    def __init__(self, workdir: Path, lib: Path, java: str) -> None:
        self.workdir = workdir
        self.lib = lib
        self.java = java
        self.port = free_port()
        self.controller_port = free_port()
        while self.controller_port == self.port:
            self.controller_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log_path = workdir / "broker.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._admin: Any = None

    @classmethod
    def start(cls, timeout: float = 90) -> KafkaBroker:
        java = _require("java", "to run the Kafka broker")
        lib = ensure_kafka_jars()
        broker = cls(Path(tempfile.mkdtemp(prefix="logwarden-kafka-")), lib, java)
        try:
            broker._format()
            broker._launch()
            broker._wait_ready(timeout)
        except BaseException:
            broker.stop()
            raise
        return broker

    def _java(self, main: str, *args: str) -> list[str]:
        return [
            self.java,
            "-Xms64m",
            "-Xmx256m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",  # the C1 compiler only: less CPU at start on a shared 2-core box
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self.workdir / 'log4j.properties'}",
            "-cp",
            f"{self.lib}/*",
            main,
            *args,
        ]

    def _format(self) -> None:
        (self.workdir / "log4j.properties").write_text(_LOG4J)
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.workdir / "data"),
            "num.partitions": "1",
            "auto.create.topics.enable": "false",
            "offsets.topic.num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "2",
            "log.cleaner.dedupe.buffer.size": str(8 * 1024 * 1024),
        }
        (self.workdir / "server.properties").write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        proc = subprocess.run(
            self._java(
                "kafka.tools.StorageTool",
                "format",
                "-t",
                _cluster_id(),
                "-c",
                str(self.workdir / "server.properties"),
            ),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if proc.returncode != 0:
            raise KafkaHarnessError(f"kafka-storage format failed:\n{proc.stdout}\n{proc.stderr}")

    def _launch(self) -> None:
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(
                [*_die_with_parent(), *self._java("kafka.Kafka", str(self.workdir / "server.properties"))],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        # A pytest that exits without its session teardown (a broken pipe, an interrupt) still stops it.
        atexit.register(self.stop)

    def _wait_ready(self, timeout: float) -> None:
        from confluent_kafka.admin import AdminClient

        deadline = time.monotonic() + timeout
        # Wait for the port first: librdkafka logs every refused connection.
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 3})
        while time.monotonic() < deadline:
            self._check_alive()
            with contextlib.suppress(Exception):
                if admin.list_topics(timeout=2).brokers:
                    return
            time.sleep(0.1)
        raise KafkaHarnessError(f"Kafka broker not ready after {timeout}s:\n{self.log_tail()}")

    def _check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise KafkaHarnessError(f"Kafka broker exited with {self.proc.returncode}:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no broker log)"

    def stop(self) -> None:
        self._admin = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.workdir, ignore_errors=True)

    # --- helpers for tests ---------------------------------------------------------------

    def admin(self) -> Any:
        """One AdminClient for the broker's life (a dropped client cancels its pending futures)."""
        if self._admin is None:
            from confluent_kafka.admin import AdminClient

            self._admin = AdminClient({"bootstrap.servers": self.bootstrap})
        return self._admin

    def create_topic(self, name: str, partitions: int = 1) -> None:
        from confluent_kafka.admin import NewTopic

        futures = self.admin().create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        futures[name].result(30)
        # Metadata propagates asynchronously; wait until every partition has a leader.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            topic = self.admin().list_topics(name, timeout=5).topics.get(name)
            ready = topic is not None and topic.error is None and len(topic.partitions) == partitions
            if ready and all(p.leader >= 0 for p in topic.partitions.values()):
                return
            time.sleep(0.1)
        raise KafkaHarnessError(f"topic {name} has no leaders after 30s")

    def produce(
        self,
        topic: str,
        messages: Iterable[tuple[bytes | None, dict[str, Any]]],
    ) -> int:
        """Produce (value, produce kwargs such as key/partition/headers) pairs with acks=all; wait for all."""
        from confluent_kafka import Producer

        producer = Producer({"bootstrap.servers": self.bootstrap, "acks": "all", "linger.ms": 5})
        failures: list[str] = []

        def delivered(err: Any, msg: Any) -> None:
            if err is not None:
                failures.append(str(err))

        count = 0
        for value, kwargs in messages:
            while True:
                try:
                    producer.produce(topic, value, on_delivery=delivered, **kwargs)
                    break
                except BufferError:
                    producer.poll(0.1)
            count += 1
        remaining = producer.flush(60)
        if remaining or failures:
            raise KafkaHarnessError(f"{remaining} messages undelivered, failures: {failures[:5]}")
        return count

    def end_offsets(self, topic: str, partitions: int) -> dict[int, int]:
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "logwarden-test-watermarks"})
        try:
            return {
                p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)
            }
        finally:
            consumer.close()

    def committed(self, group: str, topic: str, partitions: int) -> dict[int, int]:
        """The group's committed offsets by partition (-1 when none is committed)."""
        from confluent_kafka import Consumer, TopicPartition

        # A consumer that never subscribes does not join the group; it only asks the coordinator.
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group, "enable.auto.commit": False})
        try:
            result = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
            return {tp.partition: tp.offset if tp.offset >= 0 else -1 for tp in result}
        finally:
            consumer.close()

    def group_members(self, group: str) -> list[list[tuple[str, int]]]:
        """Each member's assignment in `group` (empty list when the group is not stable)."""
        futures = self.admin().describe_consumer_groups([group])
        desc = futures[group].result(10)
        if str(desc.state).split(".")[-1] != "STABLE":
            return []
        return [
            [(tp.topic, tp.partition) for tp in (m.assignment.topic_partitions if m.assignment else [])]
            for m in desc.members
        ]
