"""The WSGI application, ready before its first request.

Loading the URLconf imports every view, and with them what the reports draw with
(matplotlib, numba, xarray): about 2 s of a core. Done on the first request, as Django
does by default, it stalled each gunicorn worker's first visitors for seconds (bench/load.py:
magic links p95 9 s while 100 experts arrived at once). Done here, a worker loads it
before it accepts a connection, and with gunicorn's preload (config/gunicorn.conf.py)
the master loads it once for all its workers. Nothing here touches the database.
"""

import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()
get_resolver().url_patterns  # noqa: B018 (the property imports every view)
