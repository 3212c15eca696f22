"""Step 2, choose what moves: the plan's choices with live counts and the publishing time,
the planned posts a page at a time with "leave out" / "put back", and the warnings as a
to-do list.

Planning is :func:`departures.migrate.plan.plan_from_choices` — ``migrate plan`` with the
same choices, recorded the same way (``migrate plan --again`` repeats the desk's) — in a
desk job holding the workspace's ``plan`` lock. Leaving a post or a thread out adds its
tweets to the choices' ``exclude`` (the CLI's ``--exclude``) and plans again.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from markupsafe import Markup
from starlette.datastructures import ImmutableMultiDict
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from departures.errors import DeparturesError
from departures.i18n import _, lazy_gettext
from departures.migrate.convert import MISSING_ALT
from departures.migrate.plan import (
    PLAN_OPTIONS_META,
    count_selection,
    format_duration,
    last_choices,
    load_tweets,
    plan_from_choices,
    plan_summary,
    published_keys,
)
from departures.migrate.preview import (
    load_posts_page,
    page_starts,
    plan_warnings,
    render_text,
)
from departures.migrate.select import DEFAULT_CHOICES
from departures.workspace.db import Workspace

if TYPE_CHECKING:
    from departures.desk.app import Desk

PER_PAGE = 25
#: The choices the form edits: (name, kind) — kind says how the field is read.
FIELDS: tuple[tuple[str, str], ...] = (
    ("since", "date"),
    ("until", "date"),
    ("originals", "bool"),
    ("threads", "bool"),
    ("quotes", "bool"),
    ("replies", "bool"),
    ("retweets", "bool"),
    ("min_likes", "int"),
    ("min_reposts", "int"),
    ("hashtags", "list"),
    ("match", "list"),
    ("top", "int?"),
    ("skip_sensitive", "bool"),
    ("skip_withheld", "bool"),
    ("footer", "text"),
)


TITLE = lazy_gettext("Planning the posts")


class ChoiceError(DeparturesError):
    """A choice typed in the form cannot be read."""


def choices_from_form(form: ImmutableMultiDict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The plan's choices from the step-2 form (the ``base`` choices for what it lacks).

    A checkbox is read only when the form says it was shown (``shown=1``): an unticked box
    sends nothing, which must mean "no", not "as before".
    """
    choices = {**DEFAULT_CHOICES, **base}
    shown = form.get("shown") == "1"
    for name, kind in FIELDS:
        raw = str(form.get(name, "")).strip()
        if kind == "bool":
            if shown:
                choices[name] = form.get(name) in ("on", "1", "true")
        elif kind == "date":
            if not shown and not raw:
                continue
            try:
                choices[name] = date.fromisoformat(raw).isoformat() if raw else None
            except ValueError:
                raise ChoiceError(
                    _("“%(value)s” is not a date") % {"value": raw},
                    _("Write dates as YYYY-MM-DD, e.g. 2020-01-31"),
                ) from None
        elif kind in ("int", "int?"):
            if not raw:
                if shown:
                    choices[name] = None if kind == "int?" else 0
                continue
            if not raw.isdigit() or (kind == "int?" and int(raw) < 1):
                raise ChoiceError(
                    _("“%(value)s” is not a whole number") % {"value": raw},
                    _("Type a number like 5, or leave it empty"),
                )
            choices[name] = int(raw)
        elif kind == "list":
            if shown or raw:
                items = [item.strip().lstrip("#") for item in raw.split(",")]
                choices[name] = [item for item in items if item]
        elif shown or raw:
            choices[name] = raw or None
    if choices["since"] and choices["until"] and choices["since"] > choices["until"]:
        raise ChoiceError(_("The first day is after the last day"), _("Swap the two dates"))
    return choices


def _plan_version(workspace: Workspace) -> tuple[Any, ...]:
    # Everything the summary and the to-do list depend on: the plan, what was published,
    # the alt texts (a missing alt text is a warning).
    conn = workspace.conn
    published = conn.execute(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'published'"
    ).fetchone()[0]
    count = conn.execute("SELECT COUNT(*) FROM published").fetchone()[0] if published else 0
    alts = tuple(conn.execute("SELECT COUNT(*), MAX(updated_at) FROM alt_texts").fetchone())
    return (workspace.get_meta(PLAN_OPTIONS_META), count, alts, str(workspace.path))


def _tweets_version(workspace: Workspace) -> tuple[Any, ...]:
    row = workspace.conn.execute("SELECT MAX(rowid) FROM archive_imports").fetchone()
    return (row[0], str(workspace.path))


def routes(desk: Desk) -> list[BaseRoute]:
    """Step 2's pages."""

    def current_choices(workspace: Workspace) -> tuple[dict[str, Any], str | None]:
        last = last_choices(workspace.conn)
        if last is None:
            return dict(DEFAULT_CHOICES), None
        return {**DEFAULT_CHOICES, **last[1]}, last[0]

    def counts(workspace: Workspace, choices: dict[str, Any]) -> dict[str, Any]:
        tweets = desk.cached("tweets", _tweets_version(workspace), lambda: load_tweets(workspace))
        found = count_selection(tweets, choices, published=published_keys(workspace.conn))
        return {
            "tweets": found.tweets,
            "by_kind": found.by_kind,
            "threads": found.threads,
            "duration": format_duration(found.estimated_seconds),
            "seconds": found.estimated_seconds,
        }

    def start_plan(choices: dict[str, Any]) -> Response:
        def work(progress: Any) -> Any:
            with desk.workspace() as workspace:
                summary = plan_from_choices(
                    workspace,
                    choices,
                    progress=lambda done, total: progress("converting", done, total),
                )
                # Ready before the page asks: the first view of a new plan is as fast as
                # the others (the summary of 300,000 posts takes seconds).
                version = _plan_version(workspace)
                desk.cached("summary", version, lambda: plan_summary(workspace))
                desk.cached("todo", version, lambda: plan_warnings(workspace))
                desk.cached("pages", version, lambda: page_starts(workspace, PER_PAGE))
                return summary

        job = desk.jobs.start(
            "plan",
            work,
            desk.lock("plan", "choosing the posts to publish"),
            title=TITLE,
            next_url="/choose",
            back_url="/choose",
        )
        return RedirectResponse(f"/jobs/{job.id}", status_code=303)

    def page(request: Request) -> Response:
        if not desk.has_workspace():
            return RedirectResponse("/archive", status_code=303)
        running = desk.jobs.running("plan")
        if running is not None:
            return RedirectResponse(f"/jobs/{running.id}", status_code=303)
        query = request.query_params
        number = max(1, int(query["page"])) if query.get("page", "").isdigit() else 1
        warned = query.get("warned") == "1"
        error: DeparturesError | None = None
        with desk.workspace() as workspace:
            choices, planned_at = current_choices(workspace)
            counted: dict[str, Any] | None = None
            if query.get("count") == "1":
                try:
                    choices = choices_from_form(query, choices)
                    counted = counts(workspace, choices)
                except DeparturesError as exc:
                    error = exc
            version = _plan_version(workspace)
            summary = desk.cached("summary", version, lambda: plan_summary(workspace))
            todo = desk.cached("todo", version, lambda: plan_warnings(workspace))
            if warned:
                posts, total = load_posts_page(
                    workspace, offset=(number - 1) * PER_PAGE, limit=PER_PAGE, warned=True
                )
                pages = max(1, -(-total // PER_PAGE))
            else:
                # Where each page starts, once per plan: then any page is read from the index.
                starts = desk.cached("pages", version, lambda: page_starts(workspace, PER_PAGE))
                pages = max(1, len(starts))
                posts = []
                if number <= len(starts):
                    posts, _ = load_posts_page(
                        workspace, start_seq=starts[number - 1], limit=PER_PAGE
                    )
            username = workspace.conn.execute("SELECT username FROM account LIMIT 1").fetchone()
        return desk.render(
            request,
            "choose.html",
            400 if error else 200,
            choices=choices,
            planned_at=planned_at,
            counted=counted,
            error=error,
            summary=summary,
            duration=format_duration(summary.estimated_seconds),
            todo=todo,
            posts=posts,
            page=number,
            pages=pages,
            warned=warned,
            username=(username[0] if username else None) or "",
            missing_alt=MISSING_ALT,
            text_of=lambda post: Markup(
                render_text(str(post.record.get("text", "")), post.record.get("facets") or [])
            ),
        )

    def live_counts(request: Request) -> Response:
        with desk.workspace() as workspace:
            choices, _planned = current_choices(workspace)
            try:
                choices = choices_from_form(request.query_params, choices)
            except DeparturesError as exc:
                return desk.render(request, "parts/error.html", 400, error=exc)
            return desk.render(
                request, "parts/choose_counts.html", counted=counts(workspace, choices)
            )

    async def apply(request: Request) -> Response:
        form = await request.form()
        return await _in_thread(lambda: _apply(request, form))

    def _apply(request: Request, form: ImmutableMultiDict[str, Any]) -> Response:
        try:
            with desk.workspace() as workspace:
                choices, _planned = current_choices(workspace)
            return start_plan(choices_from_form(form, choices))
        except DeparturesError as exc:
            return desk.error(request, exc, 409 if not isinstance(exc, ChoiceError) else 400)

    async def leave_out(request: Request) -> Response:
        form = await request.form()
        return await _in_thread(lambda: _change_exclude(request, form, add=True))

    async def put_back(request: Request) -> Response:
        form = await request.form()
        return await _in_thread(lambda: _change_exclude(request, form, add=False))

    def _change_exclude(
        request: Request, form: ImmutableMultiDict[str, Any], *, add: bool
    ) -> Response:
        ids = {str(value) for value in form.getlist("tweet") if str(value).isdigit()}
        try:
            if not ids:
                raise ChoiceError(_("No post was named"), _("Use the buttons next to the posts"))
            with desk.workspace() as workspace:
                choices, _planned = current_choices(workspace)
                if add and form.get("thread"):
                    # The whole thread: every tweet planned under the same first post.
                    root = str(form.get("thread"))
                    ids |= {
                        str(t)
                        for (t,) in workspace.conn.execute(
                            "SELECT DISTINCT tweet_id FROM plan_posts WHERE root_key = ? "
                            "OR key = ?",
                            (root, root),
                        )
                    }
            excluded = set(map(str, choices.get("exclude") or ()))
            excluded = excluded | ids if add else excluded - ids
            choices["exclude"] = sorted(excluded, key=int)
            return start_plan(choices)
        except DeparturesError as exc:
            return desk.error(request, exc, 400 if isinstance(exc, ChoiceError) else 409)

    return [
        Route("/choose", page),
        Route("/choose/counts", live_counts),
        Route("/choose", apply, methods=["POST"]),
        Route("/choose/leave-out", leave_out, methods=["POST"]),
        Route("/choose/put-back", put_back, methods=["POST"]),
    ]


async def _in_thread(call: Any) -> Response:
    """Run a blocking view body (SQLite, the lock) off the event loop."""
    from starlette.concurrency import run_in_threadpool

    result: Response = await run_in_threadpool(call)
    return result
