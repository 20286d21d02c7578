"""A labeled log corpus for the pattern miner: eleven families of realistic lines made from known templates.

Each family is a list of templates (many taken from the Loghub data sets' published templates: HDFS, Apache,
OpenSSH, Spark, Windows CBS, HealthApp/Android; the rest from nginx, Kubernetes, PostgreSQL/MySQL, syslog
daemons and a Spring service) whose `{slot}`s are filled with realistic values. The template a line came from
is its ground truth. Some templates carry free text of varying length (a failure reason, a cron command, a
Java exception message), as real logs do; a miner that groups by token count splits those, and the score
shows it. Deterministic for a seed; `family_lines(name, n, seed)` → [(message, template index)].
"""

from __future__ import annotations

import random
import string
from collections import Counter, defaultdict
from collections.abc import Callable

Gen = Callable[[random.Random], str]

USERS = ["root", "admin", "alice", "bob", "deploy", "postgres", "ubuntu", "git", "oracle", "test", "guest", "www-data"]
HOSTS = ["web-01", "web-02", "db-primary", "cache-3", "worker-17", "ingest-a", "edge-eu-1", "batch-2"]
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima"]
METHODS = ["GET", "GET", "GET", "POST", "PUT", "DELETE", "PATCH"]
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "curl/8.4.0",
    "Go-http-client/1.1",
    "kube-probe/1.28",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
]
REASONS = [
    "insufficient funds",
    "card declined by issuer",
    "address verification failed for billing country",
    "timeout",
    "fraud score above threshold of the merchant profile",
]
CRON_CMDS = [
    "command -v debian-sa1 > /dev/null && debian-sa1 1 1",
    "/usr/local/bin/backup.sh",
    "cd / && run-parts --report /etc/cron.hourly",
    "test -x /usr/sbin/anacron || ( cd / && run-parts --report /etc/cron.daily )",
]
UNITS = [
    "apt-daily.service",
    "logrotate.service",
    "fstrim.service",
    "man-db.service",
    "session-42.scope",
    "snapd.service",
]
PKGS = ["com.android.systemui", "com.google.android.gms", "com.whatsapp", "com.spotify.music", "com.example.health"]
TABLES = ["users", "orders", "order_items", "payments", "sessions", "events"]


def _ip(r: random.Random) -> str:
    return f"{r.choice([10, 172, 192, 81, 203])}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"


def _hexs(n: int) -> Gen:
    return lambda r: "".join(r.choices("0123456789abcdef", k=n))


def _alnum(n: int) -> Gen:
    return lambda r: "".join(r.choices(string.ascii_lowercase + string.digits, k=n))


def _int(lo: int, hi: int) -> Gen:
    return lambda r: str(r.randint(lo, hi))


def _float(hi: float, digits: int = 1) -> Gen:
    return lambda r: f"{r.uniform(0, hi):.{digits}f}"


def _pick(values: list[str]) -> Gen:
    return lambda r: r.choice(values)


def _path(r: random.Random) -> str:
    parts = r.choices(
        ["api", "v1", "v2", "users", "orders", "static", "img", "cart", "search", "items"], k=r.randint(2, 4)
    )
    return "/" + "/".join(parts) + (f"/{r.randint(1, 99999)}" if r.random() < 0.5 else "")


def _uuid(r: random.Random) -> str:
    h = _hexs(32)(r)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _clf_ts(r: random.Random) -> str:
    return f"{r.randint(1, 28):02d}/Dec/2026:{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d} +0000"


def _hms(r: random.Random) -> str:
    return f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}"


def _blk(r: random.Random) -> str:
    return f"blk_{r.choice(['', '-'])}{r.randint(10**17, 10**19)}"


def _pod(r: random.Random) -> str:
    return f"{r.choice(['api', 'checkout', 'worker', 'frontend'])}-{_alnum(9)(r)}-{_alnum(5)(r)}"


GENS: dict[str, Gen] = {
    "ip": _ip,
    "port": _int(1024, 65535),
    "int": _int(0, 10**7),
    "small": _int(0, 9),
    "status": _pick(["200", "200", "200", "201", "204", "301", "304", "400", "401", "403", "404", "500", "502"]),
    "float": _float(1000, 3),
    "pct": _float(100, 1),
    "user": _pick(USERS),
    "host": _pick(HOSTS),
    "word": _pick(WORDS),
    "method": _pick(METHODS),
    "path": _path,
    "agent": _pick(AGENTS),
    "uuid": _uuid,
    "hex8": _hexs(8),
    "hex16": _hexs(16),
    "clf_ts": _clf_ts,
    "hms": _hms,
    "blk": _blk,
    "pod": _pod,
    "reason": _pick(REASONS),
    "cron": _pick(CRON_CMDS),
    "unit": _pick(UNITS),
    "pkg": _pick(PKGS),
    "table": _pick(TABLES),
    "ms": _int(1, 30000),
    "pid": _int(100, 65000),
    "ver": lambda r: f"6.1.{r.randint(7600, 7602)}.{r.randint(16000, 23000)}",
    "kb": lambda r: f"KB{r.randint(900000, 4999999)}",
    "b64": lambda r: "".join(r.choices(string.ascii_letters + string.digits + "+/", k=43)),
    "date": lambda r: f"2026-12-{r.randint(1, 28):02d}",
    "mon_day": lambda r: f"Dec {r.randint(1, 28):2d}",
}

FAMILIES: dict[str, list[str]] = {
    "hdfs": [
        "Receiving block {blk} src: /{ip}:{port} dest: /{ip}:50010",
        "Received block {blk} of size {int} from /{ip}",
        "PacketResponder {small} for block {blk} terminating",
        "BLOCK* NameSystem.addStoredBlock: blockMap updated: {ip}:50010 is added to {blk} size {int}",
        "BLOCK* NameSystem.allocateBlock: /user/root/rand/_temporary/_task_200811092030_0001_m_{int}_0/part-{int}. "
        "{blk}",
        "Verification succeeded for {blk}",
        "Deleting block {blk} file /mnt/hadoop/dfs/data/current/subdir{small}/{blk}",
        "BLOCK* NameSystem.delete: {blk} is added to invalidSet of {ip}:50010",
        "{ip}:50010 Served block {blk} to /{ip}",
        "{ip}:50010:Got exception while serving {blk} to /{ip}:",
        "Exception in receiveBlock for block {blk} java.io.IOException: Connection reset by peer",
        "writeBlock {blk} received exception java.io.IOException: Could not read from stream",
        "BLOCK* ask {ip}:50010 to replicate {blk} to datanode(s) {ip}:50010",
        "Starting thread to transfer block {blk} to {ip}:50010",
        "Unexpected error trying to delete block {blk}. BlockInfo not found in volumeMap.",
    ],
    "nginx": [
        '{ip} - - [{clf_ts}] "{method} {path} HTTP/1.1" {status} {int} "-" "{agent}"',
        "{date} {hms} [error] {pid}#{pid}: *{int} connect() failed (111: Connection refused) while connecting to "
        'upstream, client: {ip}, server: shop.example.com, request: "{method} {path} HTTP/1.1", upstream: '
        '"http://{ip}:8080{path}", host: "shop.example.com"',
        "{date} {hms} [error] {pid}#{pid}: *{int} upstream timed out (110: Connection timed out) while reading "
        'response header from upstream, client: {ip}, server: shop.example.com, request: "{method} {path} HTTP/1.1"',
        '{date} {hms} [error] {pid}#{pid}: *{int} open() "/usr/share/nginx/html{path}" failed (2: No such file or '
        'directory), client: {ip}, server: shop.example.com, request: "GET {path} HTTP/1.1"',
        "{date} {hms} [warn] {pid}#{pid}: *{int} an upstream response is buffered to a temporary file "
        "/var/cache/nginx/proxy_temp/{small}/{int} while reading upstream, client: {ip}, server: shop.example.com",
        "{date} {hms} [notice] {pid}#{pid}: signal process started",
        '{date} {hms} [error] {pid}#{pid}: *{int} limiting requests, excess: {float} by zone "api", client: {ip}',
    ],
    "apache": [
        '{ip} - {user} [{clf_ts}] "{method} {path} HTTP/1.0" {status} {int}',
        "[Sun Dec 04 {hms} 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties",
        "[Sun Dec 04 {hms} 2005] [error] mod_jk child workerEnv in error state {small}",
        "[Sun Dec 04 {hms} 2005] [notice] jk2_init() Found child {pid} in scoreboard slot {small}",
        "[Sun Dec 04 {hms} 2005] [error] [client {ip}] Directory index forbidden by rule: /var/www/html/",
        "[Sun Dec 04 {hms} 2005] [error] [client {ip}] File does not exist: /var/www/html{path}",
        "[Sun Dec 04 {hms} 2005] [notice] Apache/2.0.52 (Red Hat) configured -- resuming normal operations",
        "[Sun Dec 04 {hms} 2005] [error] jk2_init() Can't find child {pid} in scoreboard",
    ],
    "java": [
        "Started OrderServiceApplication in {float} seconds (JVM running for {float})",
        "Exception processing request {uuid}\njava.lang.NullPointerException: Cannot invoke "
        '"com.shop.Order.getId()" because "order" is null\n\tat com.shop.OrderService.place(OrderService.java:{int})'
        "\n\tat com.shop.OrderController.post(OrderController.java:{int})",
        "HikariPool-1 - Connection is not available, request timed out after {ms}ms.",
        "{method} {path} completed with status {status} in {ms} ms",
        "User {user} not found",
        "Cache miss for key user:{int}",
        "Retrying request to http://inventory:8080{path} (attempt {small} of 3)",
        "Failed to process order {int}: {reason}",
        "Kafka consumer group orders-{small} rebalanced, assigned partitions: [orders-{small}, orders-{small}]",
        "Scheduled job cleanupExpiredCarts finished, removed {int} carts",
    ],
    "ssh": [
        "Failed password for {user} from {ip} port {port} ssh2",
        "Failed password for invalid user {user} from {ip} port {port} ssh2",
        "Accepted password for {user} from {ip} port {port} ssh2",
        "Accepted publickey for {user} from {ip} port {port} ssh2: RSA SHA256:{b64}",
        "Invalid user {user} from {ip}",
        "pam_unix(sshd:session): session opened for user {user} by (uid={small})",
        "pam_unix(sshd:session): session closed for user {user}",
        "Received disconnect from {ip} port {port}:11: Bye Bye [preauth]",
        "Connection closed by {ip} port {port} [preauth]",
        "reverse mapping checking getaddrinfo for {host}.example.net [{ip}] failed - POSSIBLE BREAK-IN ATTEMPT!",
        "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip} user={user}",
        "PAM {small} more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}",
        "Did not receive identification string from {ip}",
    ],
    "k8s": [
        "Successfully assigned default/{pod} to {host}",
        'Pulling image "registry.example.com/shop/{word}:{small}.{small}.{small}"',
        'Successfully pulled image "registry.example.com/shop/{word}:1.{small}.0" in {float}ms '
        "({float}ms including waiting)",
        "Created container {word}",
        "Started container {word}",
        "Back-off restarting failed container {word} in pod {pod}_default({uuid})",
        "Liveness probe failed: HTTP probe failed with statuscode: {status}",
        'Readiness probe failed: Get "http://{ip}:8080/healthz": dial tcp {ip}:8080: connect: connection refused',
        "Scaled up replica set {word}-{hex8} to {small}",
        "0/{small} nodes are available: {small} Insufficient cpu, {small} node(s) had taint that the pod "
        "didn't tolerate.",
        'MountVolume.SetUp failed for volume "{word}-config" : configmap "{word}-config" not found',
        "Stopping container {word}",
    ],
    "db": [
        "duration: {float} ms  statement: SELECT id, email, created_at FROM users WHERE id = {int}",
        "duration: {float} ms  statement: UPDATE orders SET status = 'shipped' WHERE id = {int}",
        "duration: {float} ms  statement: SELECT count(*) FROM events WHERE created_at > now() - "
        "interval '{small} hours'",
        "checkpoint starting: time",
        "checkpoint complete: wrote {int} buffers ({pct}%); 0 WAL file(s) added, {small} removed, {small} recycled; "
        "write={float} s, sync={float} s, total={float} s",
        'duplicate key value violates unique constraint "{table}_pkey"',
        'automatic vacuum of table "shop.public.{table}": index scans: {small}',
        'password authentication failed for user "{user}"',
        "connection received: host={ip} port={port}",
        "connection authorized: user={user} database=shop application_name=psql",
        "disconnection: session time: 0:{small}{small}:{small}{small}.{int} user={user} database=shop host={ip} "
        "port={port}",
        "deadlock detected",
        "could not receive data from client: Connection reset by peer",
    ],
    "spark": [
        "Running task {small}.0 in stage {int}.0 (TID {int})",
        "Finished task {small}.0 in stage {int}.0 (TID {int}). {int} bytes result sent to driver",
        "Got assigned task {int}",
        "Found block rdd_{int}_{small} locally",
        "Partition rdd_{int}_{small} not found, computing it",
        "Block broadcast_{int} stored as values in memory (estimated size {float} KB, free {float} KB)",
        "Started reading broadcast variable {int}",
        "Reading broadcast variable {int} took {ms} ms",
        "Successfully registered with driver",
        "Changing view acls to: {user}",
        "Registered signal handlers for [TERM, HUP, INT]",
        "Starting executor ID {int} on host mesos-slave-{small}{small}",
        "Input split: hdfs://mesos-master-1:9000/pjhe/test/{small}/part-{int}:{int}+{int}",
        "mapred.tip.id is deprecated. Instead, use mapreduce.task.id",
    ],
    "windows": [
        "Loaded Servicing Stack v{ver} with Core: C:\\Windows\\winsxs\\amd64_microsoft-windows-servicingstack_"
        "31bf3856ad364e35_{ver}_none_{hex16}\\cbscore.dll",
        "Ending TrustedInstaller initialization.",
        "Starting the TrustedInstaller main loop.",
        "TrustedInstaller service starts successfully.",
        "SQM: Initializing online with Windows opt-in: False",
        "SQM: Cleaning up report files older than {small} days.",
        "Session: 30546174_{int} initialized by client WindowsUpdateAgent.",
        "Read out cached package applicability for package: Package_for_{kb}~31bf3856ad364e35~amd64~~{ver}, "
        "ApplicableState: {small}, CurrentState:{small}",
        "Warning: Unrecognized packageExtended attribute.",
        "Expecting attribute name [HRESULT = 0x800f080d - CBS_E_MANIFEST_INVALID_ITEM]",
        "Failed to internally open package. [HRESULT = 0x800f0805 - CBS_E_INVALID_PACKAGE]",
        "An account failed to log on. Security ID: S-1-5-21-{int}-{int}-{int}-{int} Account Name: {user} "
        "Logon Type: {small}",
    ],
    "syslog": [
        "{mon_day} {hms} {host} CRON[{pid}]: ({user}) CMD ({cron})",
        "{mon_day} {hms} {host} systemd[1]: Started {unit}.",
        "{mon_day} {hms} {host} systemd[1]: Starting {unit}...",
        "{mon_day} {hms} {host} systemd[1]: {unit}: Succeeded.",
        "{mon_day} {hms} {host} kernel: [{float}] Out of memory: Killed process {pid} (java) total-vm:{int}kB, "
        "anon-rss:{int}kB, file-rss:{int}kB, shmem-rss:0kB",
        "{mon_day} {hms} {host} dhclient[{pid}]: DHCPREQUEST for {ip} on eth0 to {ip} port 67",
        "{mon_day} {hms} {host} dhclient[{pid}]: bound to {ip} -- renewal in {int} seconds.",
        "{mon_day} {hms} {host} postfix/smtpd[{pid}]: connect from unknown[{ip}]",
        "{mon_day} {hms} {host} postfix/smtpd[{pid}]: disconnect from unknown[{ip}] ehlo=1 mail=1 rcpt=0/1 "
        "commands=2/3",
        "{mon_day} {hms} {host} ntpd[{pid}]: Soliciting pool server {ip}",
        '{mon_day} {hms} {host} rsyslogd: [origin software="rsyslogd" swVersion="8.2112.0" x-pid="{pid}" '
        'x-info="https://www.rsyslog.com"] rsyslogd was HUPed',
    ],
    "mobile": [
        "onStandStepChanged {int}",
        "onExtend:{int} {int} {small} {small}",
        "REPORT : {int} {int} {int} {float}",
        "flush sensor data",
        "getTodayTotalDetailSteps = {int}##{int}##{int}##{int}##{int}##{int}",
        "setTodayStepsAndTime: steps={int} time={int}",
        "ActivityManager: Start proc {pid}:{pkg}/u0a{int} for service {pkg}/.SyncService",
        'PowerManagerService: acquire lock={int}, flags=0x1, tag="{word}", name={pkg}, ws=null, uid={int}, pid={pid}',
        "PowerManagerService: release:lock={int}, flg=0x0, tag=RILJ_ACK_WL, name=com.android.phone, ws=null, "
        "uid=1001, pid={pid}",
        "WindowManager: Relayout Window{{{hex8} u0 {pkg}/{pkg}.MainActivity}}: viewVisibility=0 req=1080x2340",
        "processHandleBroadcastAction action:android.intent.action.SCREEN_{word}",
    ],
}


def _filler(template: str) -> Callable[[random.Random], str]:
    parts = string.Formatter().parse(template)
    pieces: list[tuple[str, Gen | None]] = []
    for literal, name, _spec, _conv in parts:
        pieces.append((literal, GENS[name] if name else None))
    return lambda r: "".join(lit + (gen(r) if gen else "") for lit, gen in pieces)


def family_lines(name: str, n: int = 2000, seed: int = 7) -> list[tuple[str, int]]:
    """`n` lines of family `name`: (message, index of its template); template frequencies are skewed like
    real logs (a few kinds make most lines) and every template appears at least once."""
    r = random.Random(f"{name}:{seed}")
    templates = FAMILIES[name]
    fill = [_filler(t) for t in templates]
    weights = [1.0 / (i + 1) ** 1.1 for i in range(len(templates))]
    r.shuffle(weights)
    labels = list(range(len(templates))) + r.choices(range(len(templates)), weights, k=max(0, n - len(templates)))
    r.shuffle(labels)
    return [(fill[i](r), i) for i in labels[:n]]


def adversarial_lines(n: int, seed: int = 11) -> list[str]:
    """Never-repeating high-cardinality text: random words and tokens of random length, no two lines alike."""
    r = random.Random(seed)
    vocab = ["".join(r.choices(string.ascii_lowercase, k=r.randint(3, 10))) for _ in range(50_000)]
    out = []
    for i in range(n):
        words = [
            r.choice(vocab)
            if r.random() < 0.8
            else "".join(r.choices(string.ascii_letters + "+/_", k=r.randint(8, 24)))
            for _ in range(r.randint(5, 25))
        ]
        out.append(" ".join(words) + f" {i}")
    return out


def grouping_scores(predicted: list[str | None], truth: list[int]) -> tuple[float, float]:
    """(GA, FGA) of predicted ids against true template numbers: a line is right when the lines sharing its id are
    exactly those sharing its true template; FGA is the F1 of predicted templates that are exactly a true one's
    lines."""
    by_predicted: dict[str | None, list[int]] = defaultdict(list)
    for i, p in enumerate(predicted):
        by_predicted[p].append(i)
    true_sizes = Counter(truth)
    right_lines = right_templates = 0
    for members in by_predicted.values():
        labels = {truth[i] for i in members}
        if len(labels) == 1 and true_sizes[next(iter(labels))] == len(members):
            right_lines += len(members)
            right_templates += 1
    precision = right_templates / len(by_predicted)
    recall = right_templates / len(true_sizes)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return right_lines / len(truth), f1
