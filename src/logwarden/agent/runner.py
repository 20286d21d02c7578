"""Wire the agent together and run it until SIGTERM/SIGINT: reader (main thread), sender thread, /metrics."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from logwarden import __version__
from logwarden.agent.backoff import Backoff
from logwarden.agent.checkpoint import CheckpointError, CheckpointStore
from logwarden.agent.config import AgentConfig
from logwarden.agent.metrics import AgentMetrics
from logwarden.agent.reader import AgentError, FileReader
from logwarden.agent.sender import Sender
from logwarden.agent.shipper import HttpShipper
from logwarden.agent.spool import DeadLetterDir, DiskSpool
from logwarden.config.loader import ConfigError

log = logging.getLogger("logwarden.agent")


def run_agent(config: AgentConfig) -> int:
    """Run until a signal; the exit status (0 after a clean stop, 1 on failure, 2 on a setup problem)."""
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    try:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        checkpoints = CheckpointStore.open(config.checkpoint_path, config.agent_id)
        spool = DiskSpool(config.spool_dir, config.spool.max_bytes)
        shipper = HttpShipper(config.output)  # reads the TLS files: a bad one is a setup problem (exit 2)
    except (CheckpointError, OSError, ConfigError) as exc:
        print(f"logwarden agent: {exc}", file=sys.stderr)
        return 2
    metrics = AgentMetrics()
    retry = config.output.retry
    sender = Sender(
        shipper=shipper,
        spool=spool,
        dead_letters=DeadLetterDir(config.dead_letter_dir),
        checkpoints=checkpoints,
        metrics=metrics,
        backoff=Backoff(retry.initial_delay.total_seconds(), retry.max_delay.total_seconds(), retry.multiplier),
        gzip=config.output.gzip,
        when_full=config.spool.when_full,
        queue_batches=config.queue_batches,
    )
    reader = FileReader(config, checkpoints, sender, metrics)
    metrics.watch_file_lags(reader.file_lags)
    metrics_url = "off"
    if config.metrics.port is not None:
        try:
            server = metrics.serve(config.metrics.host, config.metrics.port)
        except OSError as exc:
            print(
                f"logwarden agent: cannot serve metrics on {config.metrics.host}:{config.metrics.port}: {exc.strerror}",
                file=sys.stderr,
            )
            return 2
        metrics_url = f"http://{config.metrics.host}:{server.server_port}/metrics"

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info(
        "logwarden agent %s: %d inputs → %s; checkpoints %s (%d streams), spool %s (%d batches), metrics %s",
        __version__,
        len(config.inputs),
        config.output.url,
        config.checkpoint_path,
        len(checkpoints),
        config.spool_dir,
        len(spool),
        metrics_url,
    )
    sender.start()
    try:
        reader.run(stop)
    except AgentError as exc:
        log.error("%s", exc)
        return 1
    if sender.error is not None:
        return 1
    log.info("stopped")
    return 0
