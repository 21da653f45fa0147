#!/usr/bin/env python
"""Load benchmark of the expert pages: simulated experts against a real server.

Not a test. One command, loopback only, bounded in time:

    .venv/bin/python bench/load.py                       # bin/serve on PostgreSQL + Redis
    .venv/bin/python bench/load.py --web 5x1 --web 2x4   # compare gunicorn arrangements
    .venv/bin/python bench/load.py --server demo         # bin/demo: runserver on SQLite

It prepares a fresh database (PostgreSQL ``--database-url``, whose name must contain
"bench"; it is dropped and created), loads the demo panel and adds experts until
``--experts`` have an invitation to the open round (round 3), fits round 2's model (the
feedback the form shows), then starts the server: ``bin/serve`` (gunicorn, a Celery worker,
beat, DEBUG=0; its Redis is ``--redis-url``, flushed first) once per ``--web`` arrangement,
or ``bin/demo`` (runserver, SQLite, embedded Redis, its worker fitting the demo's reports as
on a first ``make demo``). Then, per arrangement, two phases of ``--duration`` seconds:

  realistic  every expert opens their own magic link (entry, welcome page, form), then
             loops: think 2-8 s (seeded), change one probability, save (POST the whole form
             as a browser does, with its CSRF token), follow the redirect to the form
  stress     the same with no think time: closed loop, all experts at once

and reports per page (entry, welcome, form, save) the count and p50/p95/p99 latency (time
to the last byte), errors by kind (HTTP status, timeout, connection), throughput, the CPU
the server and this client used, and checks the database: every accepted save (a 302 after
the POST) is in the judgment's revision history exactly once and in order, the judgment row
is unique and holds the last accepted value; revisions that no accepted save explains
(from requests that timed out after committing) are counted apart.

The form is read from the page (every input, textarea and select of the form that holds
``q<id>_probability`` fields, sent back unchanged but for the one probability), so a
lighter or split form works too; a page without such fields but with ``?part=`` links is
left for its first part. Results go to ``var/bench/load.json`` (``--json``).
"""

import argparse
import contextlib
import html
import http.client
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/consilium_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/11"
PAGES = ("entry", "welcome", "form", "save")


# --- Reading the pages --------------------------------------------------------------------

FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S | re.I)
INPUT = re.compile(r"<input\b([^>]*)>", re.I)
TEXTAREA = re.compile(r"<textarea\b([^>]*)>(.*?)</textarea>", re.S | re.I)
SELECT = re.compile(r"<select\b([^>]*)>(.*?)</select>", re.S | re.I)
OPTION = re.compile(r"<option\b([^>]*)>", re.I)
ATTRIBUTE = re.compile(r"""([\w:-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?""")
PROBABILITY = re.compile(r"q\d+_probability")
PART_LINK = re.compile(r'href="([^"]*[?&](?:amp;)?part=[^"]*)"')


def _attributes(text: str) -> dict[str, str]:
    found = {}
    for name, double, single, bare in ATTRIBUTE.findall(text):
        found[name.lower()] = html.unescape(double or single or bare)
    return found


@dataclass
class AnswerForm:
    action: str  # absolute path (with query) to POST to
    fields: list[tuple[str, str]]  # what a browser would send, in page order
    probabilities: dict[str, str]  # q<id>_probability -> its current value


def parse_answer_form(page: str, page_path: str) -> AnswerForm | None:
    """The answers form of a page, or None when the page has none."""
    for form_attributes, body in FORM.findall(page):
        if not PROBABILITY.search(body):
            continue
        attrs = _attributes(form_attributes)
        fields = []
        for tag in INPUT.findall(body):
            a = _attributes(tag)
            kind = a.get("type", "text").lower()
            if "name" not in a or kind in ("submit", "button", "image", "reset", "file"):
                continue
            if kind in ("checkbox", "radio") and "checked" not in a:
                continue
            fields.append((a["name"], a.get("value", "on" if kind == "checkbox" else "")))
        for tag, text in TEXTAREA.findall(body):
            a = _attributes(tag)
            if "name" in a:
                fields.append((a["name"], html.unescape(text.removeprefix("\n"))))
        for tag, options in SELECT.findall(body):
            a = _attributes(tag)
            chosen = [_attributes(o) for o in OPTION.findall(options)]
            picked = [o for o in chosen if "selected" in o] or chosen[:1]
            if "name" in a and picked:
                fields.append((a["name"], picked[0].get("value", "")))
        probabilities = {name: value for name, value in fields if PROBABILITY.fullmatch(name)}
        action = urljoin(page_path, attrs.get("action") or page_path)
        return AnswerForm(action, fields, probabilities)
    return None


def first_part_link(page: str, page_path: str) -> str | None:
    match = PART_LINK.search(page)
    return urljoin(page_path, html.unescape(match.group(1))) if match else None


# --- One simulated browser ----------------------------------------------------------------


class RequestFailed(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")


class Browser:
    """An HTTP/1.1 client with its own connection and cookies, like one browser tab.

    Cookies are kept by hand: with DEBUG off they are Secure, and http.cookiejar would not
    send them over the plain-HTTP loopback. A request on a kept-alive connection that the
    server closed meanwhile is sent again once on a new one, as browsers do.
    """

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.origin = f"http://{host}:{port}"
        self.connection: http.client.HTTPConnection | None = None
        self.cookies: dict[str, str] = {}
        self.reconnects = 0

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def request(self, method: str, path: str, data=None, referer: str = "") -> Response:
        body = urlencode(data).encode() if data is not None else None
        headers = {
            "User-Agent": "consilium-bench/1",
            "Accept": "text/html",
            "Accept-Encoding": "identity",
        }
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = self.origin
        if referer:
            headers["Referer"] = self.origin + referer
        for attempt in (1, 2):
            reused = self.connection is not None and self.connection.sock is not None
            if self.connection is None:
                self.connection = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.timeout
                )
            try:
                self.connection.request(method, path, body=body, headers=headers)
                raw = self.connection.getresponse()
                response = Response(raw.status, raw.headers, raw.read())
            except TimeoutError as exc:
                self.close()
                raise RequestFailed("timeout") from exc
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self.close()
                if reused and attempt == 1:  # the server closed an idle kept-alive connection
                    self.reconnects += 1
                    continue
                raise RequestFailed(f"connection {type(exc).__name__}") from exc
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise RequestFailed(f"connection {type(exc).__name__}") from exc
            self._keep_cookies(response.headers)
            return response
        raise AssertionError("unreachable")

    def _keep_cookies(self, headers: http.client.HTTPMessage) -> None:
        for line in headers.get_all("Set-Cookie") or []:
            jar = SimpleCookie()
            with contextlib.suppress(CookieError):
                jar.load(line)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or "1970" in morsel["expires"]:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value


# --- The simulated expert -----------------------------------------------------------------


@dataclass
class Save:
    invitation_id: int
    field: str
    probability: float  # 0-1, as stored


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter = field(default_factory=Counter)
    accepted: list[Save] = field(default_factory=list)
    unknown: list[Save] = field(default_factory=list)  # no answer: committed or not
    reconnects: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ok(self, page: str, seconds: float) -> None:
        with self.lock:
            self.latencies[page].append(seconds)

    def error(self, page: str, kind: str) -> None:
        with self.lock:
            self.errors[f"{page}: {kind}"] += 1


class Expert(threading.Thread):
    def __init__(self, *, invitation_id, link, browser, tally, deadline, think, rng, start_delay):
        super().__init__(daemon=True)
        self.invitation_id, self.link = invitation_id, link
        self.browser, self.tally, self.deadline = browser, tally, deadline
        self.think, self.rng, self.start_delay = think, rng, start_delay
        self.requests = 0

    def _time_left(self) -> bool:
        return time.monotonic() < self.deadline

    def _pause(self, seconds: float) -> bool:
        """Sleep, cut short at the deadline; whether there is time left after."""
        time.sleep(max(min(seconds, self.deadline - time.monotonic()), 0))
        return self._time_left()

    def _call(self, page: str, method: str, path: str, expect: int, **kw) -> Response | None:
        started = time.monotonic()
        self.requests += 1
        try:
            response = self.browser.request(method, path, **kw)
        except RequestFailed as failure:
            self.tally.error(page, failure.kind)
            return None
        elapsed = time.monotonic() - started
        if response.status != expect:
            self.tally.error(page, f"HTTP {response.status}")
            return response
        self.tally.ok(page, elapsed)
        return response

    def _load_form(self, path: str) -> tuple[AnswerForm | None, str]:
        for _ in range(2):  # the page itself, or its first part
            response = self._call("form", "GET", path, 200)
            if response is None or response.status != 200:
                return None, path
            page = response.body.decode("utf-8", errors="replace")
            form = parse_answer_form(page, path)
            if form is not None and form.probabilities:
                return form, path
            part = first_part_link(page, path)
            if part is None or not self._time_left():
                break
            path = part
        self.tally.error("form", "no probability field on the page")
        return None, path

    def _open_link(self) -> str | None:
        """Entry (the magic link), the welcome page; the form's path."""
        response = self._call("entry", "GET", self.link, 302)
        if response is None or response.status != 302:
            return None
        welcome = urlsplit(urljoin(self.link, response.location)).path
        response = self._call("welcome", "GET", welcome, 200)
        if response is None or response.status != 200:
            return None
        return f"/e/{self.invitation_id}/answers/"

    def run(self) -> None:
        try:
            self._run()
        finally:
            self.browser.close()
            with self.tally.lock:
                self.tally.reconnects += self.browser.reconnects

    def _run(self) -> None:
        if not self._pause(self.start_delay):
            return
        form_path = None
        while self._time_left() and form_path is None:
            form_path = self._open_link()
            if form_path is None and not self._pause(1.0):
                return
        form, page_path = self._load_form(form_path)
        while self._time_left():
            if form is None:
                if not self._pause(1.0):
                    return
                form, page_path = self._load_form(form_path)
                continue
            if not self._pause(self.rng.uniform(*self.think) if self.think else 0):
                return
            name = self.rng.choice(sorted(form.probabilities))
            current = _number(form.probabilities[name])
            percent = self.rng.choice([p for p in range(1, 100) if p != current])
            data = [(k, str(percent) if k == name else v) for k, v in form.fields]
            data.append(("save", "1"))
            save = Save(self.invitation_id, name, percent / 100)
            response = self._call("save", "POST", form.action, 302, data=data, referer=page_path)
            if response is None:
                with self.tally.lock:
                    self.tally.unknown.append(save)
                form, page_path = self._load_form(form_path)
                continue
            if response.status == 302:
                with self.tally.lock:
                    self.tally.accepted.append(save)
                target = urlsplit(urljoin(form.action, response.location))
                path = target.path + (f"?{target.query}" if target.query else "")
                form, page_path = self._load_form(path)
            else:
                form, page_path = self._load_form(form_path)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


# --- Setting up, serving, checking ----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, timeout: float, log: Path) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"The server exited at start (code {process.returncode}); see {log}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as error:
            last = f"HTTP {error.code}: {error.read()[:300]!r}"
        except (urllib.error.URLError, OSError) as error:
            last = str(error)
        time.sleep(0.5)
    sys.exit(f"The server did not become healthy within {timeout:.0f} s ({last}); see {log}")


def stop_server(process: subprocess.Popen) -> None:
    """SIGTERM to bin/serve or bin/demo: each stops its own process groups."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def database_recreate(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if "bench" not in name:
        sys.exit(f"Refusing to drop database {name!r}: its name must contain 'bench'.")
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("The benchmark's database must be on this machine (127.0.0.1).")
    admin = parts._replace(path="/postgres").geturl().replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def redis_flush(url: str) -> None:
    import redis

    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("The benchmark's Redis must be on this machine (127.0.0.1).")
    if parts.path.strip("/") in ("", "0"):
        sys.exit("Give the benchmark a Redis database of its own (e.g. redis://127.0.0.1:6379/11).")
    redis.Redis.from_url(url).flushdb()


def panel_prepare(*, experts: int, fit: bool) -> list[tuple[int, str]]:
    """The demo panel, grown to ``experts`` invited to round 3; their (invitation, link)."""
    from django.db import transaction
    from django.utils import timezone

    from aggregation.models import AggregationRun
    from aggregation.services import aggregation_run_execute
    from elicitation.demo import demo_load
    from elicitation.links import invitation_magic_link
    from elicitation.models import Invitation
    from elicitation.services import expert_create

    demo = demo_load()
    survey, open_round = demo.survey, demo.open_round
    invited = Invitation.objects.filter(survey_round=open_round)
    missing = experts - invited.count()
    if missing > 0:
        template = invited.order_by("id").first()
        now = timezone.now()
        with transaction.atomic():
            for n in range(missing):
                expert = expert_create(
                    survey=survey,
                    name=f"Bench Expert {n + 1}",
                    email=f"bench-{n + 1}@example.org",
                    attributes={"nationality": ("US", "ROK")[n % 2], "sector": "academia"},
                )
                # Joined in round 2, submitted without answers: round 3 shows them the
                # round-2 feedback of the 44 like everyone else, and the pages keep the
                # demo's size (their answers would add rationales to every page).
                Invitation.objects.create(
                    expert=expert,
                    survey_round=demo.second_round,
                    expires_at=demo.second_round.closed_at + timedelta(days=30),
                    sent_at=demo.second_round.opened_at,
                    first_opened_at=demo.second_round.opened_at,
                    submitted_at=demo.second_round.opened_at + timedelta(days=1),
                )
                Invitation.objects.create(
                    expert=expert, survey_round=open_round, expires_at=template.expires_at,
                    sent_at=now,
                )  # fmt: skip
    if fit:
        # The form shows round 2's consensus: fit it here, before the clock starts, and
        # leave the reports nobody looks at during the run (they would take the cores).
        runs = AggregationRun.objects.filter(status=AggregationRun.Status.QUEUED)
        wanted = runs.filter(survey_round=demo.second_round, method="hierarchical").first()
        runs.exclude(id=getattr(wanted, "id", None)).update(
            status=AggregationRun.Status.FAILED, error="not fitted by bench/load.py"
        )
        if wanted is not None:
            print("Fitting round 2's model (the form's feedback)...", flush=True)
            aggregation_run_execute(run_id=wanted.id, worker="bench")
    invitations = (
        Invitation.objects.filter(survey_round=open_round)
        .select_related("expert__user")
        .order_by("id")[:experts]
    )
    # The demo asks a changed consent text before round 3's form (a page of its own, not
    # what this measures): the experts have accepted it before the clock starts.
    from bench.expert_pages import consent_accept

    consent_accept(invitations)
    return [(i.id, _path(invitation_magic_link(invitation=i))) for i in invitations]


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def revisions_last_id() -> int:
    from django.db.models import Max

    from elicitation.models import JudgmentRevision

    return JudgmentRevision.objects.aggregate(n=Max("id"))["n"] or 0


def judgments_check(tally: Tally, since_revision: int) -> dict:
    """Every accepted save once, in order, in its judgment's history."""
    from django.db.models import Count

    from elicitation.models import Invitation, Judgment, JudgmentRevision

    invitations = {
        i.id: i
        for i in Invitation.objects.filter(
            id__in={s.invitation_id for s in [*tally.accepted, *tally.unknown]}
        )
    }

    def key(save: Save) -> tuple[int, int, int]:
        invitation = invitations[save.invitation_id]
        question = int(save.field[1:].split("_", 1)[0])
        return invitation.expert_id, question, invitation.survey_round_id

    saves = defaultdict(list)
    for save in tally.accepted:
        saves[key(save)].append(save.probability)
    revisions = defaultdict(list)
    rows = JudgmentRevision.objects.filter(id__gt=since_revision).order_by("id")
    for r in rows.values("judgment__expert_id", "judgment__question_id",
                         "judgment__survey_round_id", "probability"):  # fmt: skip
        k = (r["judgment__expert_id"], r["judgment__question_id"], r["judgment__survey_round_id"])
        revisions[k].append(r["probability"])
    found = missing = extra = 0
    for k in set(saves) | set(revisions):
        wanted, stored, i = saves.get(k, []), revisions.get(k, []), 0
        for value in stored:
            if i < len(wanted) and value is not None and math.isclose(value, wanted[i]):
                found, i = found + 1, i + 1
            else:
                extra += 1
        missing += len(wanted) - i
    judgments = Judgment.objects.filter(
        expert_id__in={k[0] for k in saves}, question_id__in={k[1] for k in saves}
    )
    by_key = {
        (j.expert_id, j.question_id, j.survey_round_id): j
        for j in judgments
        if (j.expert_id, j.question_id, j.survey_round_id) in saves
    }
    duplicates = (
        judgments.values("expert_id", "question_id", "survey_round_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    final_wrong = sum(
        1
        for k, values in saves.items()
        if k not in by_key
        or not math.isclose(by_key[k].probability or -1, (revisions.get(k) or values)[-1])
    )
    return {
        "accepted_saves": len(tally.accepted),
        "unknown_outcome_saves": len(tally.unknown),
        "judgments_saved": len(saves),
        "revisions_new": sum(len(v) for v in revisions.values()),
        "accepted_found_once_in_order": found,
        "accepted_missing": missing,
        "revisions_without_accepted_save": extra,
        "duplicate_judgments": duplicates,
        "judgments_not_holding_last_value": final_wrong,
        "ok": missing == 0 and duplicates == 0 and final_wrong == 0,
    }


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(math.ceil(q * len(ordered)) - 1, 0))]


def cpu_seconds(root_pid: int) -> float | None:
    """CPU time (user + system) of a process and every process below it."""
    try:
        import psutil
    except ImportError:
        return None
    try:
        root = psutil.Process(root_pid)
        total = 0.0
        for process in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system + times.children_user + times.children_system
        return total
    except psutil.Error:
        return None


def memory_mb(root_pid: int) -> dict | None:
    """Resident memory of the server's processes: gunicorn's workers and all of them."""
    try:
        import psutil

        root = psutil.Process(root_pid)
        processes = [root, *root.children(recursive=True)]
        rss = {p.pid: p.memory_info().rss for p in processes}
        names = {p.pid: " ".join(p.cmdline()[:3]) for p in processes}
    except Exception:  # psutil missing, or a process went away meanwhile
        return None
    gunicorn = [p for p in processes if "gunicorn" in names[p.pid]]
    workers = [p for p in gunicorn if p.ppid() in {g.pid for g in gunicorn}]
    return {
        "web_worker_mb": round(max((rss[p.pid] for p in workers), default=0) / 2**20),
        "all_mb": round(sum(rss.values()) / 2**20),
    }


def phase_run(*, name, links, host, port, args, server_pid) -> dict:
    think = tuple(args.think) if name == "realistic" else None
    tally = Tally()
    since = revisions_last_id()
    started = time.monotonic()
    deadline = started + args.duration
    server_cpu, client_cpu = cpu_seconds(server_pid), time.process_time()
    experts = [
        Expert(
            invitation_id=invitation_id,
            link=link,
            browser=Browser(host, port, args.timeout),
            tally=tally,
            deadline=deadline,
            think=think,
            rng=random.Random(args.seed * 100_003 + n),
            # A realistic crowd does not click in the same instant: first visits spread
            # over one think time. The stress run starts everyone at once.
            start_delay=random.Random(args.seed + n).uniform(0, think[1]) if think else 0.0,
        )
        for n, (invitation_id, link) in enumerate(links)
    ]
    for expert in experts:
        expert.start()
    for expert in experts:
        expert.join(timeout=max(deadline - time.monotonic(), 0) + args.timeout * 4 + 5)
    elapsed = time.monotonic() - started
    server_used = cpu_seconds(server_pid)
    client_used = time.process_time() - client_cpu
    pages = {}
    for page in PAGES:
        values = tally.latencies.get(page, [])
        pages[page] = {
            "ok": len(values),
            "p50_ms": _ms(percentile(values, 0.50)),
            "p95_ms": _ms(percentile(values, 0.95)),
            "p99_ms": _ms(percentile(values, 0.99)),
            "max_ms": _ms(max(values) if values else None),
        }
    completed = sum(len(v) for v in tally.latencies.values()) + sum(tally.errors.values())
    result = {
        "phase": name,
        "experts": len(links),
        "think_s": list(think) if think else None,
        "seconds": round(elapsed, 1),
        "requests": completed,
        "requests_per_s": round(completed / elapsed, 1),
        "saves_per_s": round(len(tally.accepted) / elapsed, 2),
        "pages": pages,
        "errors": dict(sorted(tally.errors.items())),
        "reconnects": tally.reconnects,
        "server_cpu_s": round(server_used - server_cpu, 1) if server_used is not None else None,
        "client_cpu_s": round(client_used, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "server_memory": memory_mb(server_pid),
        "stragglers": sum(1 for e in experts if e.is_alive()),
    }
    result["judgments"] = judgments_check(tally, since)
    return result


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def report(label: str, result: dict) -> None:
    print(f"\n== {label}: {result['phase']} ({result['experts']} experts, "
          f"think {result['think_s'] or 'none'}, {result['seconds']} s)")  # fmt: skip
    print(f"{'page':<8} {'ok':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for page, stats in result["pages"].items():
        cells = [stats[k] for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")]
        shown = " ".join(f"{'-' if c is None else c:>8}" for c in cells)
        print(f"{page:<8} {stats['ok']:>6} {shown}")
    print(
        f"throughput {result['requests_per_s']} requests/s, {result['saves_per_s']} saves/s; "
        f"server CPU {result['server_cpu_s']} s, client CPU {result['client_cpu_s']} s; "
        f"load {result['load_average']}; memory {result['server_memory']}"
    )
    print(f"errors: {result['errors'] or 'none'}; stale keep-alive resent: {result['reconnects']}")
    print(f"judgments: {result['judgments']}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=("serve", "demo"), default="serve")
    parser.add_argument(
        "--web",
        action="append",
        metavar="WORKERSxTHREADS[:CLASS]",
        help="a gunicorn arrangement (repeatable), e.g. 5x1, 2x4, 3x1:gthread; "
        "default: config/gunicorn.conf.py's",
    )
    parser.add_argument("--experts", type=int, default=100)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per phase")
    parser.add_argument("--phases", default="realistic,stress")
    parser.add_argument("--think", type=float, nargs=2, default=(2.0, 8.0), metavar=("MIN", "MAX"))
    parser.add_argument("--timeout", type=float, default=30.0, help="client timeout per request")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--no-fit", action="store_true", help="do not fit round 2 first")
    parser.add_argument("--json", type=Path, default=ROOT / "var" / "bench" / "load.json")
    args = parser.parse_args()
    if not 1 <= args.experts <= 500 or not 1 <= args.duration <= 600:
        sys.exit("Keep it bounded: 1-500 experts, 1-600 s per phase.")
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if set(phases) - {"realistic", "stress"}:
        sys.exit("--phases takes realistic and/or stress")

    folder = Path(tempfile.mkdtemp(prefix="consilium-load-"))
    port = free_port()
    host = "127.0.0.1"
    env = dict(os.environ)
    env.setdefault("PYTENSOR_FLAGS", f"base_compiledir={ROOT / 'var' / 'pytensor'}")
    env.update(
        {
            "CONSILIUM_VAR_DIR": str(folder),
            "SITE_URL": f"http://{host}:{port}",
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
    )
    if args.server == "serve":
        database_recreate(args.database_url)
        redis_flush(args.redis_url)
        env.update(
            {
                "DEBUG": "0",
                "SECRET_KEY": "bench-only-not-secret-" + "x" * 40,
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "SECURE_SSL_REDIRECT": "0",  # loopback, no TLS proxy in front
                "DATABASE_URL": args.database_url,
                "CELERY_BROKER_URL": args.redis_url,
                "CACHE_URL": args.redis_url,
                "EMAIL_URL": f"filemail://{folder / 'mail'}",
                "STATIC_ROOT": str(folder / "static"),
                "WEB_BIND": f"{host}:{port}",
            }
        )
    else:  # bin/demo: its own SQLite database and embedded Redis under the folder
        for name in ("DEBUG", "DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "SECRET_KEY"):
            env.pop(name, None)
        env.update({"DEMO_HOST": host, "DEMO_PORT": str(port)})
    os.environ.clear()
    os.environ.update(env)

    import django

    results = {"server": args.server, "experts": args.experts, "runs": []}
    arrangements = args.web or [None] if args.server == "serve" else [None]
    links = None
    running = None
    try:
        if args.server == "serve":
            django.setup()
            from django.core.management import call_command
            from django.db import connections

            print(f"Preparing {args.database_url} (migrate, demo panel)...", flush=True)
            call_command("migrate", verbosity=0)
            links = panel_prepare(experts=args.experts, fit=not args.no_fit)
            connections.close_all()
        for arrangement in arrangements:
            label, server_env = _arrangement(arrangement, args.server)
            log = folder / f"server-{re.sub(r'[^\w.-]+', '_', label)}.log"
            command = [sys.executable, str(ROOT / "bin" / args.server)]
            with open(log, "wb") as out:
                process = subprocess.Popen(
                    command, env={**env, **server_env}, stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True, cwd=ROOT,
                )  # fmt: skip
            running = process
            try:
                print(f"\nStarting {label} (log: {log})...", flush=True)
                wait_ready(f"http://{host}:{port}/healthz", process, 300, log)
                if links is None:  # bin/demo loaded the panel itself: add the experts
                    django.setup()
                    from django.db import connections

                    links = panel_prepare(experts=args.experts, fit=False)
                    connections.close_all()
                for name in phases:
                    result = phase_run(
                        name=name, links=links, host=host, port=port, args=args,
                        server_pid=process.pid,
                    )  # fmt: skip
                    result["server"] = label
                    results["runs"].append(result)
                    report(label, result)
                    from django.db import connections

                    connections.close_all()
            finally:
                stop_server(process)
                running = None
            inside = server_times(log)
            if inside:
                print(f"{label}: time inside gunicorn, both phases: {inside}")
                for result in results["runs"]:
                    if result["server"] == label:
                        result["inside_gunicorn_both_phases"] = inside
            errors_500 = _count_lines(log, '" 500 ')
            if errors_500:
                print(f"{label}: {errors_500} responses 500 in the server log {log}")
    finally:
        if running is not None:
            stop_server(running)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
        print(f"\nResults: {args.json}  (server logs kept in {folder})")
    if args.server == "serve":
        shutil.rmtree(folder / "static", ignore_errors=True)


def _arrangement(text: str | None, server: str) -> tuple[str, dict]:
    if server == "demo":
        return "runserver (bin/demo, SQLite)", {}
    if text is None:
        return "gunicorn (defaults)", {}
    match = re.fullmatch(r"(\d+)x(\d+)(?::(\w+))?", text)
    if not match:
        sys.exit(f"--web {text!r}: write WORKERSxTHREADS[:CLASS], e.g. 5x1 or 2x4")
    workers, threads, worker_class = match.groups()
    worker_class = worker_class or ("gthread" if int(threads) > 1 else "sync")
    env = {"WEB_WORKERS": workers, "WEB_THREADS": threads, "WEB_WORKER_CLASS": worker_class}
    return f"gunicorn {worker_class} {workers}x{threads}", env


ACCESS_LINE = re.compile(r'"(GET|POST) (/e/\d+/(?:answers/)?)\S* HTTP/[\d.]+" (\d{3}) .* (\d+)$')


def server_times(log: Path) -> dict:
    """Time spent inside gunicorn per page (its access log's last field, microseconds):
    the service time, without the wait in the listen queue that the client also sees."""
    times = defaultdict(list)
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return {}
    for line in lines:
        match = ACCESS_LINE.search(line)
        if match:
            method, path, _status, micros = match.groups()
            page = (
                "save"
                if method == "POST"
                else "form"
                if path.endswith("answers/")
                else "entry+welcome"
            )
            times[page].append(int(micros) / 1e6)
    return {
        page: {
            "n": len(values),
            "p50_ms": _ms(percentile(values, 0.5)),
            "p95_ms": _ms(percentile(values, 0.95)),
        }
        for page, values in times.items()
    }


def _count_lines(path: Path, needle: str) -> int:
    try:
        return sum(1 for line in path.read_text(errors="replace").splitlines() if needle in line)
    except OSError:
        return 0


if __name__ == "__main__":
    main()
