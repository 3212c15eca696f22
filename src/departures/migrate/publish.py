"""Publishing the plan: ``plan_posts`` in ``seq`` order, through the one write path.

Each batch holds up to 200 posts (fewer when the budget says so). A post whose parent,
root or quoted post is earlier in the same batch refers to it with the CID computed
locally (:mod:`departures.bluesky.cid`): ``applyWrites`` applies its writes in order, so a
whole thread goes in one call. Media are uploaded before the batch that needs them and
remembered by media key and content hash, so no retry uploads twice.

What cannot be published is recorded with the reason and the rest continues: a post the
server refuses as invalid (isolated from its batch by
:meth:`~departures.bluesky.writer.Writer.send_isolating`), a media file that is missing or
corrupt, and the replies and quotes that depend on such a post (``blocked``). ``run`` again
resumes; ``retry_failed`` tries those posts once more.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from departures.bluesky.budget import DAY, HOUR, BudgetConfig, WriteKind
from departures.bluesky.limits import media_limits
from departures.bluesky.pds import InvalidWrites, Pds, RateLimited, Uncertain
from departures.bluesky.records import POST
from departures.bluesky.writer import Write, open_writer, resume_budget
from departures.errors import BlueskyError, DeparturesError, WorkspaceError
from departures.workspace.db import Workspace
from departures.workspace.journal import PUBLISH_DID_META, WorkspaceJournal, check_account

Ref = tuple[str, str]  # (uri, cid)

#: ``--pace gentle``: writes per hour for accounts that want to look nothing like a burst.
GENTLE_WRITES_PER_HOUR = 500


@dataclass(frozen=True)
class PlanRow:
    """One row of ``plan_posts``, as the publisher needs it."""

    key: str
    seq: int
    rkey: str
    root_key: str | None
    parent_key: str | None
    quote_key: str | None
    record: dict[str, Any]
    media: list[dict[str, Any]]


@dataclass
class Progress:
    """Where a run stands, for the progress display."""

    total: int
    done: int
    failed: int
    eta_seconds: float
    note: str = ""


@dataclass
class RunReport:
    """What one ``run`` did."""

    published: int = 0
    already_there: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    cid_mismatches: int = 0
    seconds: float = 0.0


class Blocked(Exception):
    """A post cannot go before another one that cannot be published."""


def load_plan(workspace: Workspace) -> list[PlanRow]:
    """The plan in publish order."""
    rows = workspace.conn.execute(
        "SELECT key, seq, rkey, root_key, parent_key, quote_key, record, media "
        "FROM plan_posts ORDER BY seq, key"
    ).fetchall()
    return [
        PlanRow(key, seq, rkey, root, parent, quote, json.loads(record), json.loads(media or "[]"))
        for key, seq, rkey, root, parent, quote, record, media in rows
    ]


#: ``--no-budget``: windows no run ever fills (for a server without rate limits: a sandbox).
UNLIMITED_WINDOWS = {HOUR: 10**12, DAY: 10**13}


def budget_config(
    pace: str | int | None = None, margin: float = 0.02, *, unlimited: bool = False
) -> BudgetConfig:
    """The budget's configuration from ``--pace`` (``gentle``, ``full`` or writes/hour).

    ``unlimited`` drops the budget's own ledger (the server's 429s are still obeyed): only
    for a server without rate limits, such as a local sandbox, where the ledger would stop
    a run after the 1,633 creates an hour a real PDS allows.
    """
    per_hour: int | None
    if pace in (None, "full"):
        per_hour = None
    elif pace == "gentle":
        per_hour = GENTLE_WRITES_PER_HOUR
    else:
        per_hour = int(pace)
    if unlimited:
        return BudgetConfig(
            windows=UNLIMITED_WINDOWS, safety_margin=margin, max_writes_per_hour=per_hour
        )
    return BudgetConfig(safety_margin=margin, max_writes_per_hour=per_hour)


class Publisher:
    """Runs the plan of a workspace against the account's PDS."""

    def __init__(
        self,
        workspace: Workspace,
        pds: Pds,
        config: BudgetConfig | None = None,
        *,
        notify: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.workspace = workspace
        self.pds = pds
        self.notify = notify or (lambda _m: None)
        self.sleep = sleep
        self.journal = WorkspaceJournal(workspace, pds.did)
        self.writer = open_writer(pds, self.journal, config, sleep=sleep, notify=self.notify)
        self.budget = self.writer.budget
        self._limits: Any = None

    # --- records --------------------------------------------------------------------------

    def _ref(
        self, key: str, what: str, refs: Mapping[str, Ref], failed: Mapping[str, str]
    ) -> dict[str, str]:
        if key in refs:
            uri, cid = refs[key]
            return {"uri": uri, "cid": cid}
        if key in failed:
            raise Blocked(f"the {what} ({key}) cannot be published: {failed[key]}")
        raise Blocked(f"the {what} ({key}) is neither published nor earlier in the plan")

    def build_record(
        self, row: PlanRow, refs: Mapping[str, Ref], failed: Mapping[str, str]
    ) -> dict[str, Any]:
        """The full post record: the plan's record plus reply refs, blobs and quote embed."""
        record = dict(row.record)
        record.pop("reply", None)
        if row.parent_key:
            parent = self._ref(row.parent_key, "post it replies to", refs, failed)
            root = self._ref(row.root_key or row.parent_key, "thread's first post", refs, failed)
            record["reply"] = {"root": root, "parent": parent}
        quoted = self._ref(row.quote_key, "quoted post", refs, failed) if row.quote_key else None
        media = self._media_embed(row) if row.media else None
        if quoted and media:
            record["embed"] = {
                "$type": "app.bsky.embed.recordWithMedia",
                "record": {"$type": "app.bsky.embed.record", "record": quoted},
                "media": media,
            }
        elif quoted:
            record["embed"] = {"$type": "app.bsky.embed.record", "record": quoted}
        elif media:
            record["embed"] = media
        return record

    def limits(self) -> Any:
        """The server's media limits, asked once per run."""
        if self._limits is None:
            self._limits = media_limits(self.pds.server_info(), self.pds.video_upload_limits())
        return self._limits

    def _media_embed(self, row: PlanRow) -> dict[str, Any]:
        from departures.migrate.media import prepare_upload

        images: list[dict[str, Any]] = []
        for item in row.media:
            prepared = prepare_upload(self.workspace, item, self.limits())
            blob = self._blob(str(item.get("media_key") or row.key), prepared.data, prepared.mime)
            aspect = prepared.aspect or _aspect(item.get("aspect"))
            alt = str(item.get("alt") or "")
            if item.get("kind") == "video":
                video: dict[str, Any] = {"$type": "app.bsky.embed.video", "video": blob}
                if alt:
                    video["alt"] = alt
                if aspect:
                    video["aspectRatio"] = {"width": aspect[0], "height": aspect[1]}
                return video
            image: dict[str, Any] = {"alt": alt, "image": blob}
            if aspect:
                image["aspectRatio"] = {"width": aspect[0], "height": aspect[1]}
            images.append(image)
        return {"$type": "app.bsky.embed.images", "images": images[:4]}

    def _blob(self, media_key: str, data: bytes, mime: str) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        known = self.journal.blob(media_key, digest)
        if known is not None:
            return known
        for attempt in range(8):
            try:
                blob = self.pds.upload_blob(data, mime)
                break
            except RateLimited as exc:
                wait = self.budget.on_429(exc.headers)
                self.notify(f"rate limited while uploading media: waiting {wait:.0f}s")
                self.sleep(wait)
            except Uncertain as exc:
                # Uploading the same bytes again is harmless: blobs are content-addressed.
                if attempt == 7:
                    raise BlueskyError(
                        f"The server keeps failing to take media {media_key} ({exc})",
                        "Run again later to resume",
                    ) from exc
                self.sleep(min(60.0, 2.0**attempt))
            except InvalidWrites as exc:
                raise DeparturesError(
                    f"the server refused media {media_key}: {exc.message}"
                ) from exc
        else:
            raise BlueskyError(f"Media {media_key} could not be uploaded", "Run again later")
        self.journal.remember_blob(media_key, digest, blob)
        return blob

    # --- the run --------------------------------------------------------------------------

    def run(
        self,
        *,
        retry_failed: bool = False,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> RunReport:
        """Publish every pending post of the plan; resumable at any point."""
        started = time.monotonic()
        check_account(self.workspace, self.pds.did)
        if retry_failed:
            self.journal.clear_failures()
        report = RunReport()
        # Every open batch of the workspace is settled, the audience's follows too (the
        # journal records them where they belong); only posts count here.
        settled = self.writer.reconcile()
        report.already_there += sum(
            1 for r in settled if r.write.action is WriteKind.CREATE and r.write.collection == POST
        )
        plan = load_plan(self.workspace)
        refs: dict[str, Ref] = dict(self.journal.published())
        failed = {k: reason for k, (_status, reason) in self.journal.failures().items()}
        pending = [row for row in plan if row.key not in refs and row.key not in failed]
        total = len(plan)

        def progress(note: str = "") -> None:
            if on_progress is None:
                return
            left = sum(1 for row in plan if row.key not in refs and row.key not in failed)
            eta = self.budget.estimate_seconds(n_creates=left)
            done = sum(1 for row in plan if row.key in refs)
            on_progress(Progress(total, done, len(failed), eta, note))

        progress()
        i = 0
        while i < len(pending):
            start = i
            cap = self.writer.capacity(WriteKind.CREATE)
            batch: list[Write] = []
            in_batch: dict[str, Ref] = {}
            while i < len(pending) and len(batch) < cap:
                row = pending[i]
                i += 1
                if row.key in refs or row.key in failed:
                    continue
                try:
                    record = self.build_record(row, {**refs, **in_batch}, failed)
                except Blocked as exc:
                    self._fail(row.key, str(exc), failed, report, status="blocked")
                    continue
                except (BlueskyError, WorkspaceError):
                    raise
                except DeparturesError as exc:  # media missing, corrupt, too large
                    self._fail(row.key, exc.one_line(), failed, report)
                    continue
                write = Write.create(row.key, POST, row.rkey, record)
                batch.append(write)
                in_batch[row.key] = (self.pds.uri(POST, row.rkey), write.expected_cid or "")
            if not batch:
                continue
            # A refused post stops the batch there: the posts after it may refer to it, so
            # they are built again (and blocked if they do).
            sent = self.writer.send_isolating(batch, stop_at_refusal=True)
            for refused in sent.refused:
                reason = f"refused by the server: {refused.reason}"
                self._fail(refused.write.key, reason, failed, report)
            for result in sent.results:
                refs[result.write.key] = (result.uri, result.cid or "")
                if result.existed:
                    report.already_there += 1
                else:
                    report.published += 1
            if sent.rest:
                i = start
            progress()
        report.cid_mismatches = len(self.writer.cid_mismatches)
        report.seconds = time.monotonic() - started
        progress("done")
        return report

    def _fail(
        self,
        key: str,
        reason: str,
        failed: dict[str, str],
        report: RunReport,
        *,
        status: str = "failed",
    ) -> None:
        self.journal.fail(key, reason, status=status)
        failed[key] = reason
        report.failed[key] = reason
        self.notify(f"{key} {status}: {reason}")


def _aspect(value: Any) -> tuple[int, int] | None:
    try:
        width, height = int(value[0]), int(value[1])
    except (TypeError, ValueError, IndexError):
        return None
    return (width, height) if width > 0 and height > 0 else None


@dataclass
class Status:
    """Counts for ``migrate status``."""

    planned: int
    published: int
    pending: int
    failures: list[dict[str, str]]
    blocked: int
    undone: int
    eta_seconds: float
    account: str | None

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` form."""
        return {
            "planned": self.planned,
            "published": self.published,
            "pending": self.pending,
            "failed": len(self.failures),
            "blocked": self.blocked,
            "failures": self.failures,
            "undone": self.undone,
            "eta_seconds": round(self.eta_seconds, 1),
            "account": self.account,
        }


def status(workspace: Workspace, config: BudgetConfig | None = None) -> Status:
    """Where the plan stands (no server needed)."""
    conn = workspace.conn
    account = workspace.get_meta(PUBLISH_DID_META)
    planned = conn.execute("SELECT count(*) FROM plan_posts").fetchone()[0]
    published = conn.execute(
        "SELECT count(*) FROM plan_posts p JOIN published u ON u.key = p.key "
        "WHERE u.deleted_at IS NULL"
    ).fetchone()[0]
    undone = conn.execute("SELECT count(*) FROM published WHERE deleted_at IS NOT NULL").fetchone()[
        0
    ]
    failures = conn.execute(
        "SELECT f.key, f.status, f.reason FROM publish_failures f "
        "JOIN plan_posts p ON p.key = f.key ORDER BY p.seq"
    ).fetchall()
    failed = [{"key": k, "status": s, "reason": r} for k, s, r in failures]
    pending = planned - published - len(failed)
    budget = resume_budget(WorkspaceJournal(workspace, account or ""), config)
    eta = budget.estimate_seconds(n_creates=max(0, pending))
    return Status(
        planned=planned,
        published=published,
        pending=max(0, pending),
        failures=failed,
        blocked=sum(1 for f in failed if f["status"] == "blocked"),
        undone=undone,
        eta_seconds=eta,
        account=account,
    )
