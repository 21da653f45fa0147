"""Django's database sessions, except when the database cannot take the session's save.

Django's database backend turns every database error of an existing session's save into
``UpdateError``, and SessionMiddleware answers that with a 400 "session interrupted",
meant for a session that another request deleted (a logout in another tab). When the
database is down, or SQLite stays locked past its busy timeout (``make demo`` with 100
experts at once), that 400 told experts their request was bad. Here the database's own
error goes on instead, and ``config.middleware`` answers it with the 503 page ("try again
in a minute"), as it does wherever else the database fails. SESSION_ENGINE names this
module.
"""

from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore

from config.middleware import is_database_outage


class SessionStore(DatabaseSessionStore):
    def save(self, must_create=False):
        try:
            return super().save(must_create=must_create)
        except UpdateError as exc:
            cause = exc.__context__  # what the backend caught, as Python chained it
            if not is_database_outage(cause):
                raise
        # Raised here, outside the except clause, it keeps its own chain: Django's error
        # with the driver's as its cause, which is_database_outage reads (SQLITE_BUSY).
        raise cause
