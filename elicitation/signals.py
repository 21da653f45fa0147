"""A password login ends the expert pages this browser had opened.

Expert pages are bound to the browser session that proved a magic link. Django's login
keeps an anonymous session's data, so without this a staff login on a shared computer
would keep an expert's form open beside the staff account.
"""

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from elicitation.selectors import SESSION_INVITATIONS


@receiver(user_logged_in, dispatch_uid="elicitation-end-expert-session")
def end_expert_session(sender, request, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        request.session.pop(SESSION_INVITATIONS, None)
