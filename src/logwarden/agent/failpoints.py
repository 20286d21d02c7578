"""Fault injection for crash tests (off unless the environment variable is set; one stat per batch when on).

LOGWARDEN_AGENT_KILL_AFTER_ACK_IF=<path>: once <path> exists, the agent SIGKILLs itself right after the
server acknowledged a batch and before that batch's checkpoint is written: the worst moment to die, when
a restart must re-send lines the server already stored.
"""

from __future__ import annotations

import os
import signal

_KILL_AFTER_ACK_IF = os.environ.get("LOGWARDEN_AGENT_KILL_AFTER_ACK_IF")


def after_ack() -> None:
    if _KILL_AFTER_ACK_IF and os.path.exists(_KILL_AFTER_ACK_IF):
        os.kill(os.getpid(), signal.SIGKILL)
