"""Demo traffic: access logs, application logs with stack traces, and incidents on a repeating schedule.

Services: `web` (access logs of the shop), `checkout`, `payment`, `inventory` (application logs, errors with
Java- and Python-style stack traces), `auth` (logins). Each cycle of the schedule has, in order: an error
burst on checkout, a brute-force login from one address, a new exception type on payment, and inventory going
silent for a while. Time comes from an injected clock; randomness from a seeded generator (tests replay it).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

Line = dict[str, Any]

SERVICES = ("web", "checkout", "payment", "inventory", "auth")
PATHS = ("/", "/products", "/products/{id}", "/cart", "/checkout", "/api/v1/orders", "/login", "/static/app.js")
KNOWN_EXCEPTIONS = ("java.net.SocketTimeoutException", "ConnectionResetError", "InsufficientStockError")
# Names the "new exception type" incident introduces, one per cycle (then numbered).
NEW_EXCEPTIONS = ("LedgerConsistencyError", "CardVaultUnavailableError", "CurrencyRoundingError")
USERS = ("alice", "bob", "chen", "dana", "emeka", "farah", "goran", "hana")
ATTACKER_IP = "203.0.113.66"


@dataclass(frozen=True, slots=True)
class DemoSchedule:
    """When each incident happens within a cycle (seconds from the cycle's start) and the rules' windows."""

    period: float = 240.0
    burst_at: float = 15.0
    burst_for: float = 20.0
    brute_at: float = 45.0
    brute_for: float = 20.0
    new_exception_at: float = 70.0
    silent_at: float = 90.0
    silent_for: float = 75.0
    window: str = "30s"  # the rules' window
    burst_threshold: int = 20  # errors of one service in `window`
    brute_threshold: int = 15  # failed logins from one address in `window`
    lines_per_second: float = 30.0

    @classmethod
    def short(cls) -> DemoSchedule:
        """A compressed schedule for tests: every incident within 30 s, 10 s windows."""
        return cls(
            period=40.0,
            burst_at=3.0,
            burst_for=6.0,
            brute_at=10.0,
            brute_for=6.0,
            new_exception_at=17.0,
            silent_at=20.0,
            silent_for=15.0,
            window="10s",
            burst_threshold=10,
            brute_threshold=8,
        )


def _ts(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


class TrafficGenerator:
    """Lines for each tick of the demo: `batch(elapsed, seconds)` gives the lines of that slice of time."""

    def __init__(
        self,
        schedule: DemoSchedule,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        seed: int = 7,
    ) -> None:
        self.schedule = schedule
        self._clock = clock
        self._rand = random.Random(seed)
        self._next_id = 0

    def phase(self, elapsed: float) -> dict[str, bool | int]:
        """Which incidents are on at `elapsed` seconds since the start, and the cycle's number."""
        s = self.schedule
        cycle, t = divmod(elapsed, s.period)
        return {
            "cycle": int(cycle),
            "burst": s.burst_at <= t < s.burst_at + s.burst_for,
            "brute": s.brute_at <= t < s.brute_at + s.brute_for,
            "silent": s.silent_at <= t < s.silent_at + s.silent_for,
            "new_exception": s.new_exception_at <= t < s.new_exception_at + 2.0,
        }

    def batch(self, elapsed: float, seconds: float) -> list[Line]:
        """The lines of the `seconds` before now, `elapsed` seconds into the demo."""
        end = self._clock()
        phase = self.phase(elapsed)
        lines = list(self._normal(end, seconds, silent=bool(phase["silent"])))
        if phase["burst"]:
            lines += self._error_burst(end, seconds)
        if phase["brute"]:
            lines += self._brute_force(end, seconds)
        if phase["new_exception"]:
            lines += self._new_exception(end, int(phase["cycle"]))
        lines.sort(key=lambda line: line["ts"])
        return lines

    def history(self, minutes: int = 30, step_seconds: float = 10.0) -> Iterator[list[Line]]:
        """Normal traffic over the `minutes` before now (no incidents), in batches: dashboards start full."""
        now = self._clock()
        at = now - timedelta(minutes=minutes)
        while at < now:
            at += timedelta(seconds=step_seconds)
            # A third of the live rate: enough lines that no service looks silent in any window.
            yield list(self._normal(at, step_seconds, silent=False, rate=self.schedule.lines_per_second / 3))

    # --- the kinds of lines ---------------------------------------------------------------------------

    def _id(self) -> str:
        self._next_id += 1
        return f"demo-{self._next_id:09d}"

    def _times(self, end: datetime, seconds: float, count: int) -> list[datetime]:
        return [end - timedelta(seconds=self._rand.random() * seconds) for _ in range(count)]

    def _count(self, rate: float, seconds: float) -> int:
        expected = rate * seconds
        return int(expected) + (1 if self._rand.random() < expected - int(expected) else 0)

    def _normal(self, end: datetime, seconds: float, *, silent: bool, rate: float | None = None) -> Iterator[Line]:
        rate = self.schedule.lines_per_second if rate is None else rate
        for at in self._times(end, seconds, self._count(rate, seconds)):
            kind = self._rand.random()
            if kind < 0.5:
                yield self._access(at)
            elif kind < 0.92:
                service = self._rand.choice(("checkout", "payment", "inventory"))
                if not (silent and service == "inventory"):
                    yield self._app(at, service)
            else:
                yield self._login(at, failed=self._rand.random() < 0.1, ip=f"198.51.100.{self._rand.randint(2, 250)}")

    def _access(self, at: datetime) -> Line:
        r = self._rand
        path = r.choice(PATHS).replace("{id}", str(r.randint(1, 500)))
        method = "POST" if path in ("/checkout", "/api/v1/orders", "/login") else "GET"
        status = r.choices((200, 301, 404, 500, 503), weights=(90, 3, 5, 1, 1))[0]
        ms = round(r.lognormvariate(3.2, 0.6), 1)
        ip = f"192.0.2.{r.randint(2, 250)}"
        level = "ERROR" if status >= 500 else "WARN" if status >= 400 else "INFO"
        return {
            "ts": _ts(at),
            "service": "web",
            "host": f"web-{r.randint(1, 3)}",
            "level": level,
            "message": f'{ip} - - "{method} {path} HTTP/1.1" {status} {r.randint(200, 40_000)} {ms}ms',
            "log_id": self._id(),
            "http": {"method": method, "path": path, "status": status},
            "latency_ms": ms,
            "client_ip": ip,
        }

    def _app(self, at: datetime, service: str) -> Line:
        r = self._rand
        order = r.randint(10_000, 99_999)
        level = r.choices(("INFO", "DEBUG", "WARN", "ERROR"), weights=(70, 15, 12, 3))[0]
        line: Line = {
            "ts": _ts(at),
            "service": service,
            "host": f"{service}-{r.randint(1, 2)}",
            "level": level,
            "log_id": self._id(),
            "trace_id": f"{r.getrandbits(128):032x}",
        }
        if level == "ERROR":
            exception = r.choice(KNOWN_EXCEPTIONS)
            line["message"] = _stack_trace(exception, service, order)
            line["exception"] = exception
        elif level == "WARN":
            line["message"] = f"retrying {service} call for order {order} (attempt {r.randint(2, 3)}/3)"
        else:
            line["message"] = (
                f"order {order} {r.choice(('created', 'reserved', 'paid', 'shipped'))} in {r.randint(3, 400)} ms"
            )
        line["order_id"] = order
        return line

    def _login(self, at: datetime, *, failed: bool, ip: str, user: str | None = None) -> Line:
        user = user or self._rand.choice(USERS)
        return {
            "ts": _ts(at),
            "service": "auth",
            "host": "auth-1",
            "level": "WARN" if failed else "INFO",
            "message": f"login failed for user {user} from {ip}" if failed else f"login ok for user {user} from {ip}",
            "log_id": self._id(),
            "client_ip": ip,
            "user": user,
        }

    def _error_burst(self, end: datetime, seconds: float) -> list[Line]:
        rate = 3 * self.schedule.burst_threshold / _seconds(self.schedule.window)
        lines = []
        for at in self._times(end, seconds, self._count(rate, seconds)):
            line = self._app(at, "checkout")
            line["level"] = "ERROR"
            line["exception"] = "java.net.SocketTimeoutException"
            line["message"] = _stack_trace("java.net.SocketTimeoutException", "checkout", line["order_id"])
            lines.append(line)
        return lines

    def _brute_force(self, end: datetime, seconds: float) -> list[Line]:
        rate = 3 * self.schedule.brute_threshold / _seconds(self.schedule.window)
        count = self._count(rate, seconds)
        return [
            self._login(at, failed=True, ip=ATTACKER_IP, user=self._rand.choice((*USERS, "admin", "root")))
            for at in self._times(end, seconds, count)
        ]

    def _new_exception(self, end: datetime, cycle: int) -> list[Line]:
        name = NEW_EXCEPTIONS[cycle % len(NEW_EXCEPTIONS)]
        if cycle >= len(NEW_EXCEPTIONS):
            name = f"{name}{cycle // len(NEW_EXCEPTIONS) + 1}"
        line = self._app(end, "payment")
        line.update(level="ERROR", exception=name, message=_stack_trace(name, "payment", line["order_id"]))
        return [line]


def _seconds(duration: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(duration[:-1]) * units[duration[-1]]


def _stack_trace(exception: str, service: str, order: int) -> str:
    """A multi-line message as a service would log it: Java frames for dotted names, Python otherwise."""
    if "." in exception:
        return (
            f"order {order} failed: {exception}: Read timed out\n"
            f"\tat com.shop.{service}.GatewayClient.call(GatewayClient.java:142)\n"
            f"\tat com.shop.{service}.OrderService.submit(OrderService.java:88)\n"
            "\tat java.base/java.lang.Thread.run(Thread.java:1583)"
        )
    return (
        f"order {order} failed\n"
        "Traceback (most recent call last):\n"
        f'  File "/app/{service}/handlers.py", line 57, in handle_order\n'
        "    result = ledger.commit(order)\n"
        f'  File "/app/{service}/ledger.py", line 211, in commit\n'
        f"    raise {exception}(order)\n"
        f"{exception}: order {order}"
    )
