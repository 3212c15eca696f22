"""The desk's pages, one module per step of the journey.

Each module has ``routes(desk) -> list[BaseRoute]`` and is listed once in
:data:`departures.desk.app.VIEW_MODULES`. A view parses the request, calls the library
function the CLI calls for the same thing, and renders a template with ``desk.render``;
a :class:`~departures.errors.DeparturesError` becomes a message on the page
(``desk.error``). Views are plain functions run in Starlette's thread pool, so each opens the
workspace with ``with desk.workspace() as workspace:`` (one SQLite connection per request).
"""
