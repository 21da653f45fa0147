"""gunicorn's configuration, from the environment: `gunicorn --config config/gunicorn.conf.py`.

bin/serve, deploy/compose.yaml and deploy/systemd/consilium-web.service all start it so.

| variable | default | meaning |
| --- | --- | --- |
| `WEB_WORKERS` | 2 x cores + 1, at most 8 | worker processes |
| `WEB_THREADS` | 2 | threads per worker |
| `WEB_WORKER_CLASS` | `gthread` | gunicorn's worker class (`sync` needs no threads) |
| `WEB_TIMEOUT` | 30 | seconds a request may take before its worker is killed and replaced |
| `WEB_KEEPALIVE` | 5 | seconds an idle client connection is kept open (gthread) |
| `WEB_BIND` | `127.0.0.1:8000` | address(es) to listen on, comma-separated (`unix:/run/consilium.sock`) |
| `WEB_PRELOAD` | `1` | load the application once in the master (`0`: in each worker, so that HUP reloads code) |

Why gthread workers, 2 x cores + 1 processes of 2 threads: measured with bench/load.py
(100 experts on their own links, PostgreSQL, Redis; numbers in bench/README.md) on the
2-core development machine, in three rounds:

- sync workers (5 of them) served the least: 27 requests/s at saturation against 30-38
  for gthread with 1 or 2 threads, and with think times of 2-8 s they could not keep up
  with the 100 experts (form p50 1.2-2.4 s), where gthread 5 x 2 served them all at a p50
  of 120 ms. A sync worker spent 52-62 ms of CPU per request against 33-42 ms for gthread,
  27 ms of it in the kernel: 4,000 mmap/munmap pairs per form page (strace). The worker's
  main thread renders the page right at a boundary of CPython 3.12's 16 KB frame-stack
  chunks, and allocates and frees a chunk each time it crosses it (30 frames more
  underneath made it go away). An accident of stack depth that a change of code can move,
  but it is what the server does today, and gthread's request threads do not hit it.
- 5 x 2 had the best realistic run in both rounds it ran in (37 requests/s, all the
  experts asked for; form p50 111-120 ms, p95 550-600 ms) and was at or near the top at
  saturation (30-37 requests/s). More threads per process buy nothing, as the pages spend
  their time in Python under the GIL: 2 x 4 served 27-37 requests/s in the realistic runs
  (form p50 124-889 ms), and in round 3 5 x 4 and 3 x 4 served 29 and 22 at saturation
  where 5 x 2 served 37. One thread (5 x 1 gthread) was as fast at saturation but slower
  in the realistic runs (form p95 1.2-3.3 s): a second thread lets a process work while
  the other waits on PostgreSQL or on a client. Sync workers keep the fairest queue at
  saturation (one listen queue for all: usually a tighter p99 there), while gthread's
  processes accept connections even when busy, so a burst of first visits can wait behind
  a busy one (entry p95 ~5 s while all 100 experts arrived within 8 s).
- Measured again on 2026-12-07 with the application preloaded, the feedback warmed by the
  worker and the worker niced (bench/README.md): sync 8 x 1 and 5 x 1 and gthread 5 x 2 all
  served the 100 experts at a form p95 of 104-132 ms and the same ~22 ms of CPU a request
  (the sync workers' mmap/munmap cost no longer shows); sync kept the tighter tail at
  saturation (p95 1.8 s against 2.9 s). gthread stays the default: it holds idle
  keep-alive connections without a worker each.
- Each worker is a full Django process of ~310 MB resident: 5 of them are 1.6 GB. The
  cap of 8 keeps a large machine within memory and PostgreSQL's connections; raise it
  there (WEB_WORKERS) if the CPUs are idle under load.

Every worker holds up to DB_POOL_SIZE PostgreSQL connections (set here to WEB_THREADS when
unset): WEB_WORKERS x DB_POOL_SIZE, plus the Celery workers', must stay below PostgreSQL's
max_connections (100 by default). Run it behind a reverse proxy that terminates TLS
(deploy/): gthread keeps idle connections in its poller, but a slow client still holds a
thread while its request is read and its response written; a proxy buffers both.
"""

import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use (containers)
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


bind = [address.strip() for address in os.environ.get("WEB_BIND", "127.0.0.1:8000").split(",")]
workers = _int("WEB_WORKERS", min(2 * _cores() + 1, 8))
threads = _int("WEB_THREADS", 2)
worker_class = os.environ.get("WEB_WORKER_CLASS", "").strip() or "gthread"
timeout = _int("WEB_TIMEOUT", 30)
graceful_timeout = timeout  # on SIGTERM, requests in flight may finish
keepalive = _int("WEB_KEEPALIVE", 5)  # gthread; sync workers close after each response

# One connection pool per worker process, as large as its threads (config/settings.py).
if not os.environ.get("DB_POOL_SIZE", "").strip():
    os.environ["DB_POOL_SIZE"] = str(threads)

wsgi_app = "config.wsgi:application"
# Load the application (config/wsgi.py imports every view: ~2 s of a core) once, in the
# master, before the workers fork: they start ready, a killed one is replaced at once, and
# they share the imported modules' memory. Without it, the 5 workers import on 2 cores at
# the same time while the first visitors wait. WEB_PRELOAD=0 loads it in each worker
# instead, which a HUP (code reload) needs.
preload_app = os.environ.get("WEB_PRELOAD", "1").strip() != "0"
accesslog = "-"  # stdout
errorlog = "-"  # stderr
# The common format without query strings (%(U)s is the path alone): a magic link carries
# its token in the query (/e/<id>/?t=...), and a log must not hold working links. No
# referrer either, for the same reason. Last, the request's duration in microseconds.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s" %(D)s'
# gunicorn >= 25.1 opens a control socket at ~/.gunicorn/gunicorn.ctl (for gunicornc): one
# path per user, which a second instance of that user would take over. Not used here.
control_socket_disable = True
# Workers' heartbeat files in memory, not on a disk that may stall (a container's /tmp is
# often an overlay filesystem).
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"
