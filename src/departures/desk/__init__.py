"""The desk: ``departures desk``, the whole journey in the browser on the organisation's own
computer.

A local Starlette app over the same library the CLI uses (as datasette is over
sqlite-utils): :mod:`.app` builds it from a :class:`~departures.desk.app.Desk`, :mod:`.guard`
keeps it to this computer and this browser, each step's pages are a module in
:mod:`.views` with its own ``routes(desk)``.
"""
