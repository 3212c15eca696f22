"""Defaults and environment variable names that command options show before any import.

An option's default and its ``[env ...]`` hint are read when click builds the command, that
is, whenever its module is imported — for ``--help`` too. Kept here, in a module that imports
nothing, they cost nothing at start-up; the library modules that own these values (the
AppView client, the follower, the publisher) may hold their own copies, and
``tests/unit/test_cli_lazy.py`` checks that every copy equals the one here.
"""

from __future__ import annotations

#: The AppView searched and read by ``audience match`` and ``migrate verify``.
APPVIEW_ENV = "DEPARTURES_APPVIEW"
PUBLIC_APPVIEW = "https://public.api.bsky.app"

#: ``audience follow``: at most this many follows in any 24 hours, spread at this many an hour,
#: waiting at most this many seconds for the server's rate limit.
FOLLOW_DAILY_CAP = 300
FOLLOW_PER_HOUR = 60
FOLLOW_MAX_WAIT = 3600.0
