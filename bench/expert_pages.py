#!/usr/bin/env python
"""What one expert page costs the server: `python bench/expert_pages.py` (issue 14).

Not a test. Loads the demo panel into a fresh SQLite database under a temporary folder
(or uses DATABASE_URL when it is set, and Django's cache at CACHE_URL, as production does
with PostgreSQL and Redis), then, in this one process, opens the round-3 pages of several
experts through Django's test client (the whole middleware stack, CSRF checks on, no
network) and prints per page: the median and p95 server time and the median CPU time of
this process over the repeats, the HTML size and the number of database queries. The
pages are those bench/load.py's experts open: the magic link (entry, with its token), the
same link again from a browser that opened it (the cheapest expert request: the fixed
cost of the middleware), the welcome page, each part of the form and its summary, a save
of the first part (the whole part posted back with one probability changed, as a browser
does) and the form it redirects to, with the "saved" message. Run it before and after a
change, in the same session: CPU time is steadier than wall time on a shared machine.

Options: --repeats 30 --experts 5 --fit (fit round 2's model first, as bench/load.py
does: the form then shows its consensus) --profile PAGE (cProfile of that page's
requests, the 30 costliest functions by own and cumulative time)
--json var/bench/expert_pages.json
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
_URLENCODED = "application/x-www-form-urlencoded"
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--experts", type=int, default=5)
    parser.add_argument("--fit", action="store_true", help="fit round 2's model first")
    parser.add_argument("--profile", metavar="PAGE", help='e.g. "form part 1" or "save"')
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="consilium-bench-"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{folder / 'bench.sqlite3'}")
    os.environ.setdefault("CONSILIUM_VAR_DIR", str(folder))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "bench-only-" + "x" * 40)
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    os.environ.setdefault("STATIC_ROOT", str(folder / "static"))

    import django

    django.setup()
    from django.conf import settings
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from elicitation import demo
    from elicitation.links import invitation_magic_link
    from elicitation.models import Invitation, Round
    from elicitation.selectors import form_parts, round_questions

    settings.ALLOWED_HOSTS = ["testserver"]
    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)  # production serves these
    loaded = demo.demo_load()
    if args.fit:
        _fit_second_round(loaded)
    cache.clear()
    survey = loaded.survey
    open_round = Round.objects.get(survey=survey, status=Round.Status.OPEN)
    invitations = list(
        Invitation.objects.filter(survey_round=open_round)
        .select_related("expert__user")
        .order_by("id")[: args.experts]
    )
    consent_accept(invitations)

    n_parts = len(form_parts(questions=round_questions(survey_round=open_round)))
    pages = {"entry": None, "entry again": None, "welcome": ("expert-welcome", "")}
    for number in range(1, n_parts + 1):
        pages[f"form part {number}" if n_parts > 1 else "form"] = ("expert-form", f"?part={number}")
    if n_parts > 1:
        pages["form summary"] = ("expert-form", "?part=summary")
    pages["save"] = None
    pages["form after save"] = None
    results = {name: {"seconds": [], "cpu": [], "bytes": 0, "queries": 0} for name in pages}
    profiler = cProfile.Profile() if args.profile else None

    def measure(name: str, expect: int, call, *call_args):
        profiling = profiler is not None and name == args.profile
        with CaptureQueriesContext(connection) as queries:
            if profiling:
                profiler.enable()
            cpu, start = time.process_time(), time.perf_counter()
            response = call(*call_args)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            if profiling:
                profiler.disable()
        assert response.status_code == expect, (name, response.status_code)
        result = results[name]
        result["seconds"].append(wall)
        result["cpu"].append(cpu)
        result["bytes"] = max(result["bytes"], len(response.content))
        result["queries"] = max(result["queries"], len(queries))
        return response

    for invitation in invitations:
        client = Client(enforce_csrf_checks=True)
        link = invitation_magic_link(invitation=invitation).split(settings.SITE_URL, 1)[1]
        plain_link = link.split("?", 1)[0]
        assert client.get(link).status_code == 302  # warm
        form = reverse("elicitation:expert-form", args=[invitation.id])
        for name, target in pages.items():
            if target is None:
                continue
            url_name, query = target
            url = reverse(f"elicitation:{url_name}", args=[invitation.id]) + query
            client.get(url)  # warm: templates compiled, caches filled
            for _ in range(args.repeats):
                measure(name, 200, client.get, url)
        for _ in range(args.repeats):
            measure("entry", 302, client.get, link)
            measure("entry again", 302, client.get, plain_link)
        fields = _answer_fields(client.get(form + "?part=1").content.decode())
        probability = next(name for name in fields if name.endswith("_probability"))
        for k in range(args.repeats):
            data = dict(fields, save="1")
            data[probability] = str(40 + k % 2)  # a change, saved as a revision
            body = urlencode(data)  # as a browser posts a form (not the client's multipart)
            response = measure("save", 302, client.post, form, body, _URLENCODED)
            measure("form after save", 200, client.get, response["Location"])

    print(
        f"Round {open_round.number} of the demo, {len(invitations)} experts x {args.repeats}; "
        f"{connection.vendor}, cache {settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}"
    )
    print(f"{'page':16} {'median ms':>10} {'p95 ms':>8} {'CPU ms':>8} {'KB':>7} {'queries':>8}")
    summary = {}
    for name, r in results.items():
        times = sorted(r["seconds"])
        row = {
            "median_ms": 1000 * statistics.median(times),
            "p95_ms": 1000 * times[int(0.95 * (len(times) - 1))],
            "cpu_median_ms": 1000 * statistics.median(r["cpu"]),
            "kb": r["bytes"] / 1024,
            "queries": r["queries"],
        }
        summary[name] = row
        print(
            f"{name:16} {row['median_ms']:10.1f} {row['p95_ms']:8.1f} "
            f"{row['cpu_median_ms']:8.1f} {row['kb']:7.1f} {row['queries']:8d}"
        )
    if profiler is not None:
        for order in ("tottime", "cumulative"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(30)
            print(out.getvalue())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2))


def _answer_fields(page: str) -> dict[str, str]:
    """The answers form of a page as a browser posts it (bench/load.py reads it so too)."""
    from bench.load import parse_answer_form

    form = parse_answer_form(page, "/")
    assert form is not None, "no answers form on the page"
    return dict(form.fields)


def consent_accept(invitations) -> None:
    """The demo asks a changed consent text before round 3's form: the benchmarked experts
    accept it first (bench/load.py's do too), so that their links lead to the form."""
    from elicitation.consent import consent_respond, consent_state

    for invitation in invitations:
        state = consent_state(expert=invitation.expert)
        if not state.allows_answers and state.status == "needed":
            consent_respond(invitation=invitation, version_id=state.version.id, accepted=True)


def _fit_second_round(loaded) -> None:
    """Round 2's hierarchical model, fitted here (once per database), as bench/load.py does."""
    from aggregation.models import AggregationRun
    from aggregation.services import aggregation_run_execute

    runs = AggregationRun.objects.filter(survey_round=loaded.second_round, method="hierarchical")
    if runs.filter(status=AggregationRun.Status.SUCCEEDED).exists():
        return
    wanted = runs.filter(status=AggregationRun.Status.QUEUED).first()
    if wanted is not None:
        print("Fitting round 2's model (the form's feedback)...", flush=True)
        aggregation_run_execute(run_id=wanted.id, worker="bench")


if __name__ == "__main__":
    main()
