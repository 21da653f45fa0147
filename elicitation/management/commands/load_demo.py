"""`manage.py load_demo`: load the demo panel (once) and print what to open."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.shortcuts import resolve_url
from django.urls import reverse

from elicitation.demo import DEMO_ANALYST_USERNAME, DEMO_PASSWORD, DEMO_SEED, DemoSurvey, demo_load
from elicitation.links import invitation_magic_link


class Command(BaseCommand):
    help = "Load the demo survey and synthetic panel (idempotent) and print the demo logins."

    def add_arguments(self, parser):
        parser.add_argument(
            "--seed",
            type=int,
            default=DEMO_SEED,
            help="Seed of the synthetic answers (used only when the demo is first loaded).",
        )

    def handle(self, *args, seed: int, **options):
        demo = demo_load(seed=seed)
        self.stdout.write(access_block(demo))


def access_block(demo: DemoSurvey) -> str:
    """The few lines `make demo` shows once the servers are up."""
    site = settings.SITE_URL
    survey = demo.survey
    invitation = demo.featured_invitation
    expert_link = invitation_magic_link(invitation=invitation)
    report = reverse("aggregation:round-report", args=[demo.closed_round.id])
    return "\n".join(
        [
            f'Demo survey "{survey.title}": {survey.experts.count()} experts, '
            f"round 1 closed, round 2 open.",
            f"Organizer: {site}{resolve_url(settings.LOGIN_URL)}  "
            f"username {demo.organizer.username}, password {DEMO_PASSWORD}",
            f"Admin:     {site}{reverse('admin:index')}  "
            f"username {demo.admin.username}, password {DEMO_PASSWORD}",
            f"Analyst (reports only): username {DEMO_ANALYST_USERNAME}, password {DEMO_PASSWORD}",
            f"Expert {invitation.expert.code}'s personal link (round 2): {expert_link}",
            f"Report of round 1 (the worker fits it now; the page shows progress): {site}{report}",
        ]
    )
