#!/usr/bin/env python
"""What one expert page costs the server: `python bench/expert_pages.py` (issue 14).

Not a test. Loads the demo panel into a fresh SQLite database under a temporary folder
(or uses DATABASE_URL when it is set), then, in this one process, opens the round-3 pages
of several experts through Django's test client (the whole middleware stack, no network)
and prints per page: the median and p95 server time over the repeats, the HTML size and
the number of database queries. Run it before and after a change, in the same session.

Options: --repeats 30 --experts 5 --json var/bench/expert_pages.json
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--experts", type=int, default=5)
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
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from elicitation import demo
    from elicitation.links import invitation_magic_link
    from elicitation.models import Invitation, Round

    settings.ALLOWED_HOSTS = ["testserver"]
    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)  # production serves these
    survey = demo.demo_load().survey
    open_round = Round.objects.get(survey=survey, status=Round.Status.OPEN)
    invitations = list(
        Invitation.objects.filter(survey_round=open_round).order_by("id")[: args.experts]
    )
    from django.urls import reverse

    from elicitation.selectors import form_parts, round_questions

    n_parts = len(form_parts(questions=round_questions(survey_round=open_round)))
    pages = {"welcome": ("expert-welcome", "")}
    for number in range(1, n_parts + 1):
        pages[f"form part {number}" if n_parts > 1 else "form"] = ("expert-form", f"?part={number}")
    if n_parts > 1:
        pages["form summary"] = ("expert-form", "?part=summary")
    results = {name: {"seconds": [], "bytes": 0, "queries": 0} for name in pages}

    for invitation in invitations:
        client = Client()
        link = invitation_magic_link(invitation=invitation).split(settings.SITE_URL, 1)[1]
        assert client.get(link).status_code == 302
        for name, (url_name, query) in pages.items():
            url = reverse(f"elicitation:{url_name}", args=[invitation.id]) + query
            client.get(url)  # warm: templates compiled, caches filled
            for _ in range(args.repeats):
                with CaptureQueriesContext(connection) as queries:
                    start = time.perf_counter()
                    response = client.get(url)
                    results[name]["seconds"].append(time.perf_counter() - start)
                assert response.status_code == 200, (url, response.status_code)
            results[name]["bytes"] = max(results[name]["bytes"], len(response.content))
            results[name]["queries"] = max(results[name]["queries"], len(queries))

    print(f"Round {open_round.number} of the demo, {len(invitations)} experts x {args.repeats}")
    print(f"{'page':14} {'median ms':>10} {'p95 ms':>8} {'KB':>7} {'queries':>8}")
    summary = {}
    for name, r in results.items():
        times = sorted(r["seconds"])
        row = {
            "median_ms": 1000 * statistics.median(times),
            "p95_ms": 1000 * times[int(0.95 * (len(times) - 1))],
            "kb": r["bytes"] / 1024,
            "queries": r["queries"],
        }
        summary[name] = row
        print(
            f"{name:14} {row['median_ms']:10.1f} {row['p95_ms']:8.1f} "
            f"{row['kb']:7.1f} {row['queries']:8d}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
