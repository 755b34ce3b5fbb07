"""The language of the public pages (the guest page and the event gallery).

Staff pick theirs with Django's ``set_language`` view, which stores it in a cookie. Guests get
no cookie: the guest page is served without middleware and sets none, and the gallery is meant
for any phone at the event. Their page speaks the browser's language, or the one a language
link put in the address (``?lang=ru``), so the choice stays with the link and nowhere else.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils import translation

LANGUAGE_PARAMETER = "lang"


def public_page_language(request: HttpRequest) -> str:
    """The ``?lang=`` choice when it names a language we speak, else the browser's (or a staff
    member's language cookie, which Django reads too)."""
    chosen = request.GET.get(LANGUAGE_PARAMETER, "")
    if chosen in dict(settings.LANGUAGES):
        return chosen
    return translation.get_language_from_request(request)
