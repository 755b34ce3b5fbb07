"""The two roles of an event crew: groups of model permissions, made by a data migration
(photochanger/migrations/0002_roles.py).

The admin and the staff API check the very same permissions, so a role means the same on both.
A staff member's API tokens carry that member's permissions.
"""

from __future__ import annotations

EVENT_OPERATOR = "Event operator"
EVENT_ADMIN = "Event admin"

# Watching the event and keeping it running: statistics and jobs, test runs, slots on and off,
# their prompts. Not the providers, keys, password, settings or tokens.
OPERATOR_PERMISSIONS = (
    "slots.view_slot",
    "slots.view_templateimage",
    "slots.operate_slot",
    "slots.test_slot",
    "ingest.view_job",
    "stats.view_statistics",
)

# Everything of PhotoChanger's own models, for the crew member who runs the event.
ADMIN_MODELS = {
    "slots": ("slot", "templateimage", "globalsettings"),
    "ingest": ("job",),
    "media": ("storedmedia",),
    "stats": ("gallerysharing",),
    "photochanger": ("apitoken",),
}
ADMIN_EXTRA_PERMISSIONS = (
    "slots.operate_slot",
    "slots.test_slot",
    "stats.view_statistics",
)
