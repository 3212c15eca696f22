"""The coalition service's errors, each with the HTTP status the web app answers with.

DeparturesError (departures.errors)
├── CoalitionError (rules)   a change the campaign rules refuse             → 409
├── HandleError (handles)    a Bluesky handle is malformed or unknown       → 400
├── StoreError (db)          the store cannot be opened or reached          → 503
└── WebError                 a request the service refuses
    ├── BadInput             a form field is missing, too long or malformed → 400
    ├── NotAllowed           not signed in, or not yours to change          → 403
    ├── NotFound             no such campaign, invite or page               → 404
    └── TooLarge             the request body is over the limit             → 413
"""

from __future__ import annotations

from departures.coalition.db import StoreError
from departures.coalition.handles import HandleError
from departures.coalition.rules import CoalitionError
from departures.errors import DeparturesError

__all__ = [
    "BadInput",
    "NotAllowed",
    "NotFound",
    "TooLarge",
    "TooMany",
    "WebError",
    "status_for",
]


class WebError(DeparturesError):
    """A request the coalition service refuses; ``status`` is its HTTP status."""

    status = 400


class BadInput(WebError):
    """A form field or query parameter is missing, too long or malformed."""

    status = 400


class NotAllowed(WebError):
    """The visitor is not signed in as someone allowed to do this."""

    status = 403


class NotFound(WebError):
    """No such campaign, invite, organisation or page."""

    status = 404


class TooLarge(WebError):
    """The request body is larger than any form of the service needs."""

    status = 413


class TooMany(WebError):
    """Too many forms sent from one address in a short time."""

    status = 429


def status_for(error: DeparturesError) -> int:
    """The HTTP status for a user error."""
    if isinstance(error, WebError):
        return error.status
    if isinstance(error, CoalitionError):
        return 409
    if isinstance(error, HandleError):
        return 400
    if isinstance(error, StoreError):
        return 503
    return 400
