"""The coalition's web pages, as a package of views.

* :mod:`.app` — :class:`CoalitionApp`, the ASGI app (routes, lifespan, 404/405 pages);
  :mod:`.settings` — its settings declared as data; :mod:`.site` — what every view is handed.
* :mod:`.perimeter` — the pure ASGI middleware around the whole app: trusted proxy headers
  (none by default), the Host allow-list, the headers of every response;
  :mod:`.throttle` — failed sign-ins counted per address and per account.
* :mod:`.middleware` — the endpoint wrappers: rate limit, sign-in guard and CSRF before the
  body, body limits, the view in a worker thread, error pages, security headers;
  :mod:`.sessions` — the request context, the signed session cookie, CSRF tokens;
  :mod:`.rendering` — the Jinja templates (``coalition/templates``).
* :mod:`.uploads` — multipart forms through Starlette's parser with per-endpoint limits;
  :mod:`.archive_upload` — reading an uploaded account.js, following.js or archive zip.
* The views, one module per audience: :mod:`.board` (the public board), :mod:`.coordinator`,
  :mod:`.member`, :mod:`.directory` (with :mod:`.signin`, Bluesky sign-in for it).

Modules import downwards only (views → middleware → site → rendering → sessions); a test
checks that the package's import graph has no cycle.
"""

from __future__ import annotations

from departures.coalition.web.app import CoalitionApp
from departures.coalition.web.archive_upload import MAX_UPLOAD, Upload, read_upload
from departures.coalition.web.sessions import SESSION_COOKIE
from departures.coalition.web.settings import Settings
from departures.coalition.web.signin import BlueskySignIn, PdsSignIn

__all__ = [
    "MAX_UPLOAD",
    "SESSION_COOKIE",
    "BlueskySignIn",
    "CoalitionApp",
    "PdsSignIn",
    "Settings",
    "Upload",
    "read_upload",
]
