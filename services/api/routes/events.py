"""/events: incident changes as server-sent events, for the console's live board.

Contract: `event: incident`, `id:` the incident event id, `data:` JSON
`{"event", "event_id", "actor", "at", "incident": {...}}` with the incident as it is now.
A client that reconnects with `Last-Event-ID` (browsers do by themselves) gets every event after
it; a new client starts at the newest event and loads the current board with GET /incidents.
Comment lines every 15 s keep proxies and idle timeouts from closing a quiet stream.

The table stays the record and the only source of what is sent; what changes is when it is
read: at once when the API hears of a change (its MQTT subscription to the incidents topic, its
own acks and shelves), and every `event_poll` seconds (1 s) anyway, for changes written by a
process that published nothing (the CLI, a duty tick, a rules service cut off from the broker).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from services.api.changes import Changes
from services.api.deps import SiteScopeDep, StoreDep
from services.api.event_feed import EventFeed

__all__ = ["HEARTBEAT", "POLL", "router"]

router = APIRouter(tags=["events"])

POLL = 1.0  # s between reads of the event table when nothing said a change is there
HEARTBEAT = 15.0  # s of silence before a comment line
RETRY_MS = 1000  # how soon a browser reconnects after the stream drops


async def _stream(
    feed: EventFeed, start: int, request: Request, changes: Changes, poll: float
) -> AsyncIterator[bytes]:
    cursor = start
    loop = asyncio.get_running_loop()
    quiet_since = loop.time()
    try:
        yield f"retry: {RETRY_MS}\n: connected\n\n".encode()
        while not await request.is_disconnected():
            waiter = changes.waiter()
            items = await asyncio.to_thread(feed.after, cursor)
            for item in items:
                data = orjson.dumps(item.payload).decode()
                yield f"id: {item.event_id}\nevent: incident\ndata: {data}\n\n".encode()
                cursor = item.event_id
            if items:
                quiet_since = loop.time()
            elif loop.time() - quiet_since >= HEARTBEAT:
                quiet_since = loop.time()
                yield b": heartbeat\n\n"
            # A disconnected client is noticed within one wait.
            await changes.wait(waiter, min(poll, HEARTBEAT))
    finally:
        feed.close()


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "an SSE stream"}},
)
async def events(
    request: Request,
    store: StoreDep,
    site: SiteScopeDep,
    last_event_id: Annotated[int | None, Header(ge=0, le=2**63 - 1)] = None,
    after: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="resume after this id")]
    = None,
) -> StreamingResponse:
    """Stream incident changes as they are written to the store, by any process."""
    feed = EventFeed(store.path, site)
    resume = last_event_id if last_event_id is not None else after
    start = resume if resume is not None else await asyncio.to_thread(feed.last_id)
    state = request.app.state
    return StreamingResponse(
        _stream(feed, start, request, state.changes, state.event_poll),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
