"""The 15 slots of a fresh install. Those on the offline ``local`` provider are ready to use."""

from __future__ import annotations

from slots.models import SLOT_COUNT


def slot_id(number: int) -> str:
    return f"slot-{number:03d}"


_READY = [
    {"display_name": "Original (passthrough)", "operation": "passthrough"},
    {"display_name": "Black and white", "operation": "grayscale"},
    {"display_name": "Sepia", "operation": "sepia"},
    {"display_name": "Pop-art posterize", "operation": "posterize", "settings": {"bits": 3}},
]


def default_slots() -> list[dict]:
    """Field values for every slot of a fresh install, in id order."""
    slots = []
    for number in range(1, SLOT_COUNT + 1):
        values: dict = {
            "id": slot_id(number),
            "display_name": f"Slot {number}",
            "provider": "local",
            "operation": "passthrough",
            "is_active": False,
            "settings": {},
        }
        if number <= len(_READY):
            values.update(_READY[number - 1], is_active=True)
        elif number == len(_READY) + 1:
            values.update(display_name="Frame (upload an overlay image first)", operation="frame")
        slots.append(values)
    return slots
