"""Staff users in the crew's roles (photochanger.roles), for tests.

The groups come from a data migration; a transactional test's flush empties them, so they are
made again here by that same migration's code when missing.
"""

from __future__ import annotations

import importlib

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from photochanger.roles import EVENT_ADMIN, EVENT_OPERATOR

_roles_migration = importlib.import_module("photochanger.migrations.0002_roles")

__all__ = ["EVENT_ADMIN", "EVENT_OPERATOR", "role_group", "staff_with_role"]


def role_group(role: str) -> Group:
    if not Group.objects.filter(name=role).exists():
        _roles_migration.create_roles(apps, None)
    return Group.objects.get(name=role)


def staff_with_role(username: str, role: str | None, *, password_hash: str = "") -> object:
    """An active staff member in ``role`` (None: staff with no permission at all), who logs in
    with the password of ``password_hash`` when one is given."""
    user = get_user_model().objects.create(username=username, password=password_hash, is_staff=True)
    if role is not None:
        user.groups.add(role_group(role))
    return user
