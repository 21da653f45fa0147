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
    korean = demo.korean_invitation
    korean_link = invitation_magic_link(invitation=korean)
    report = reverse("aggregation:round-report", args=[demo.second_round.id])
    comparison = reverse("aggregation:round-comparison", args=[demo.second_round.id])
    return "\n".join(
        [
            f'Demo survey "{survey.title}": {survey.experts.count()} experts, '
            f"rounds 1 and 2 closed, round 3 open.",
            f"Organizer: {site}{resolve_url(settings.LOGIN_URL)}  "
            f"username {demo.organizer.username}, password {DEMO_PASSWORD}",
            f"Admin:     {site}{reverse('admin:index')}  "
            f"username {demo.admin.username}, password {DEMO_PASSWORD}",
            f"Analyst (reports only): username {DEMO_ANALYST_USERNAME}, password {DEMO_PASSWORD}",
            f"Expert {invitation.expert.code}'s personal link (round 3): {expert_link}",
            f"Korean-speaking expert {korean.expert.code}'s link (round 3): {korean_link}",
            "Report of round 2 (fitted by the worker in the background after the first "
            f"start; the page shows the progress): "
            f"{site}{report}  compared with round 1: {site}{comparison}",
        ]
    )
