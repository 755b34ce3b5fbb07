"""The live feed of the stats page: every job that ends, pushed over WebSocket to staff."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from ingest.events import JOBS_GROUP


class JobFeedConsumer(AsyncJsonWebsocketConsumer):
    """Joins the ``jobs`` group for a signed-in staff member who may view jobs (as in the
    admin); anyone else has the handshake refused (HTTP 403), before any event could reach
    them."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if not await _may_watch_jobs(user):
            await self.close()
            return
        await self.channel_layer.group_add(JOBS_GROUP, self.channel_name)
        self.joined = True
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if getattr(self, "joined", False):
            await self.channel_layer.group_discard(JOBS_GROUP, self.channel_name)

    async def receive_json(self, content: object, **kwargs: object) -> None:
        # The feed only speaks; what a client sends is ignored.
        return

    async def job_finished(self, event: dict) -> None:
        await self.send_json({"type": "job.finished", "job": event["job"]})


@database_sync_to_async
def _may_watch_jobs(user: object) -> bool:
    if user is None or not (user.is_active and user.is_staff):
        return False
    return user.has_perm("ingest.view_job")  # reads the user's groups from the database
