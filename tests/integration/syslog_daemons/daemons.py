"""rsyslog and syslog-ng as child processes of a test: own config, sockets, state and pid files in a tmp dir.

Both daemons are found in the directory `install.sh` unpacks them to (LOGWARDEN_SYSLOG_DAEMONS, default
/opt/logwarden-syslog-daemons), or else on PATH. Each reads messages from a Unix datagram socket of its
own (fed with `logger -u`) and forwards them to logwarden; nothing touches /dev/log, /run or /etc.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = Path(os.environ.get("LOGWARDEN_SYSLOG_DAEMONS", "/opt/logwarden-syslog-daemons"))
MULTIARCH = "x86_64-linux-gnu" if os.uname().machine == "x86_64" else f"{os.uname().machine}-linux-gnu"


@dataclass(frozen=True)
class DaemonInstall:
    binary: Path
    env: dict[str, str]
    extra_args: tuple[str, ...]


def find_rsyslogd() -> DaemonInstall | None:
    unpacked = DEFAULT_ROOT / "usr/sbin/rsyslogd"
    if unpacked.exists():
        modules = DEFAULT_ROOT / "usr/lib" / MULTIARCH / "rsyslog"
        return DaemonInstall(unpacked, {}, ("-M", str(modules)))
    found = shutil.which("rsyslogd") or ("/usr/sbin/rsyslogd" if Path("/usr/sbin/rsyslogd").exists() else None)
    return DaemonInstall(Path(found), {}, ()) if found else None


def find_syslog_ng() -> DaemonInstall | None:
    unpacked = DEFAULT_ROOT / "usr/sbin/syslog-ng"
    if unpacked.exists():
        libs = f"{DEFAULT_ROOT}/usr/lib/syslog-ng:{DEFAULT_ROOT}/usr/lib/{MULTIARCH}"
        modules = DEFAULT_ROOT / "usr/lib/syslog-ng/3.38"
        versioned = sorted((DEFAULT_ROOT / "usr/lib/syslog-ng").glob("3.*"))
        if versioned:
            modules = versioned[-1]
        return DaemonInstall(unpacked, {"LD_LIBRARY_PATH": libs}, (f"--module-path={modules}",))
    found = shutil.which("syslog-ng") or ("/usr/sbin/syslog-ng" if Path("/usr/sbin/syslog-ng").exists() else None)
    return DaemonInstall(Path(found), {}, ()) if found else None


class SyslogDaemon:
    """A daemon process fed through a Unix datagram socket with `logger -u`."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], socket_path: Path, log_path: Path) -> None:
        self.name = name
        self.socket_path = socket_path
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, **env}, start_new_session=True
        )

    def wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            if self.socket_path.exists():
                return
            time.sleep(0.05)
        raise TimeoutError(f"{self.name} did not create {self.socket_path}:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def send(
        self,
        message: str,
        *,
        tag: str,
        priority: str,
        pid: int | None = None,
        rfc5424: bool = False,
        extra: tuple[str, ...] = (),
    ) -> None:
        """One message through `logger` to the daemon's socket (RFC 5424 without the timeQuality element)."""
        argv = ["logger", "-u", str(self.socket_path), "-d", "-t", tag, "-p", priority]
        if pid is not None:
            argv.append(f"--id={pid}")
        if rfc5424:
            argv.append("--rfc5424=notq")
        subprocess.run([*argv, *extra, "--", message], check=True, timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()


RSYSLOG_CONF = """\
global(workDirectory="{work}" localHostname="{hostname}" maxMessageSize="64k")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{socket}" CreatePath="on" UseSysTimeStamp="on")
# The legacy BSD format (RFC 3164): <PRI>Mmm dd hh:mm:ss HOST TAG MSG
action(type="omfwd" target="127.0.0.1" port="{port}" protocol="{protocol}"
       template="RSYSLOG_TraditionalForwardFormat" action.resumeRetryCount="-1")
"""


def start_rsyslog(workdir: Path, *, port: int, protocol: str, hostname: str) -> SyslogDaemon:
    """rsyslogd -n forwarding everything it receives on its socket to 127.0.0.1:port as RFC 3164."""
    install = find_rsyslogd()
    if install is None:
        raise FileNotFoundError("rsyslogd not found (run tests/integration/syslog_daemons/install.sh)")
    workdir.mkdir(parents=True, exist_ok=True)
    sock = workdir / "rsyslog.sock"
    conf = workdir / "rsyslog.conf"
    conf.write_text(RSYSLOG_CONF.format(work=workdir, hostname=hostname, socket=sock, port=port, protocol=protocol))
    argv = [str(install.binary), "-n", "-f", str(conf), "-i", str(workdir / "rsyslog.pid"), *install.extra_args]
    return SyslogDaemon("rsyslogd", argv, install.env, sock, workdir / "rsyslogd.out")


SYSLOG_NG_CONF = """\
@version: 3.38
options {{ chain-hostnames(no); use-dns(no); stats-freq(0); }};
# flags(syslog-protocol): what logger --rfc5424 writes is parsed as RFC 5424, structured data included.
source s_local {{ unix-dgram("{socket}" flags(syslog-protocol) host-override("{hostname}")); }};
# syslog(): RFC 5424, octet-counted over TCP (RFC 6587), one message per datagram over UDP (RFC 5426).
destination d_logwarden {{ syslog("127.0.0.1" transport("{protocol}") port({port})); }};
log {{ source(s_local); destination(d_logwarden); }};
"""


def start_syslog_ng(workdir: Path, *, port: int, protocol: str, hostname: str) -> SyslogDaemon:
    """syslog-ng -F forwarding everything it receives on its socket to 127.0.0.1:port as RFC 5424."""
    install = find_syslog_ng()
    if install is None:
        raise FileNotFoundError("syslog-ng not found (run tests/integration/syslog_daemons/install.sh)")
    workdir.mkdir(parents=True, exist_ok=True)
    sock = workdir / "syslog-ng.sock"
    conf = workdir / "syslog-ng.conf"
    conf.write_text(SYSLOG_NG_CONF.format(socket=sock, hostname=hostname, port=port, protocol=protocol))
    argv = [
        str(install.binary),
        "-F",
        "-e",
        "--no-caps",
        "-f",
        str(conf),
        "-R",
        str(workdir / "syslog-ng.persist"),
        "-c",
        str(workdir / "syslog-ng.ctl"),
        "-p",
        str(workdir / "syslog-ng.pid"),
        *install.extra_args,
    ]
    return SyslogDaemon("syslog-ng", argv, install.env, sock, workdir / "syslog-ng.out")


def free_udp_and_tcp_port() -> int:
    """A port free for both TCP and UDP on loopback."""
    for _ in range(50):
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                    udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no port free for both TCP and UDP")
