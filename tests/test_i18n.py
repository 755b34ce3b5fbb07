"""English and Russian beyond the admin: the one catalog, the guest page and the gallery (the
browser's language or ``?lang=``, never a cookie), and what stays English on purpose.

The staff pages are in tests/admin/test_i18n.py.
"""

from __future__ import annotations

import ast
import asyncio
import gettext
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from django.utils import translation

from photochanger.tokens import api_token_create
from providers.base import Deadline, ProviderError, ProviderRequest
from providers.gemini import GeminiProvider
from providers.turbotext import TurbotextProvider
from stats.services import gallery_share
from tests.booth import Booth
from tests.ingest.test_result_page import done_job_id
from tests.roles import EVENT_OPERATOR, staff_with_role

CATALOG = Path(settings.BASE_DIR) / "locale" / "ru" / "LC_MESSAGES" / "django.po"
COMPILED = CATALOG.with_suffix(".mo")
RUSSIAN = "ru-RU,ru;q=0.9,en;q=0.5"
ENGLISH = "en-US,en;q=0.9"


@pytest.fixture(autouse=True)
def _no_language_left_active() -> Iterator[None]:
    # A request through LocaleMiddleware leaves its language active in the test's thread.
    yield
    translation.deactivate()


# ---------------------------------------------------------------------------------------------
# The catalog


ENTRY_LINE = re.compile(r'(msgctxt|msgid_plural|msgid|msgstr)(?:\[(\d)\])?\s+(".*")$')


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    obsolete: bool = False


def catalog_entries(path: Path) -> list[Entry]:
    """The entries of a .po file (header first): enough of the format for these checks."""
    entries = []
    for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8").strip()):
        entry, key = Entry(), None
        for line in block.splitlines():
            if line.startswith("#~"):
                entry.obsolete = True
            elif line.startswith("#,"):
                entry.flags |= {flag.strip() for flag in line[2:].split(",")}
            elif line.startswith("#") or not line.strip():
                continue
            elif match := ENTRY_LINE.match(line):
                kind, index, text = match.groups()
                key = (kind, int(index or 0))
                value = ast.literal_eval(text)
                if kind == "msgstr":
                    entry.msgstr[key[1]] = value
                else:
                    setattr(entry, kind, value)
            else:
                value = ast.literal_eval(line)
                if key[0] == "msgstr":
                    entry.msgstr[key[1]] += value
                else:
                    setattr(entry, key[0], getattr(entry, key[0]) + value)
        entries.append(entry)
    return entries


def test_every_message_is_translated_and_none_is_fuzzy() -> None:
    header, *entries = catalog_entries(CATALOG)

    assert "Language: ru" in header.msgstr[0]
    assert "nplurals=4" in header.msgstr[0]
    assert len(entries) > 200
    for entry in entries:
        assert not entry.obsolete, entry.msgid
        assert "fuzzy" not in entry.flags, entry.msgid
        forms = 4 if entry.msgid_plural is not None else 1
        assert sorted(entry.msgstr) == list(range(forms)), entry.msgid
        assert all(text.strip() for text in entry.msgstr.values()), entry.msgid


def test_placeholders_survive_translation() -> None:
    for entry in catalog_entries(CATALOG)[1:]:
        wanted = set(re.findall(r"%\(\w+\)s|%d|\{\w+\}", entry.msgid))
        for text in entry.msgstr.values():
            assert set(re.findall(r"%\(\w+\)s|%d|\{\w+\}", text)) == wanted, entry.msgid


def test_the_compiled_catalog_matches_the_source() -> None:
    with COMPILED.open("rb") as compiled:
        translations = gettext.GNUTranslations(compiled)

    for entry in catalog_entries(CATALOG)[1:]:
        msgid = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
        if entry.msgid_plural is None:
            assert translations.gettext(msgid) == entry.msgstr[0], entry.msgid
        else:
            assert translations.ngettext(entry.msgid, entry.msgid_plural, 21) == entry.msgstr[0]


def test_the_project_has_one_catalog() -> None:
    apps = ("slots", "ingest", "media", "providers", "stats", "photochanger")
    assert not [app for app in apps if (Path(settings.BASE_DIR) / app / "locale").exists()]


@pytest.mark.parametrize(
    ("count", "text"),
    [(1, "1 минута"), (2, "2 минуты"), (5, "5 минут"), (11, "11 минут"), (21, "21 минута")],
)
def test_russian_counts_take_the_right_plural_form(count: int, text: str) -> None:
    with translation.override("ru"):
        assert translation.ngettext("%d minute", "%d minutes", count) % count == text


# ---------------------------------------------------------------------------------------------
# What stays English


def provider_request(**values: object) -> ProviderRequest:
    return ProviderRequest(
        job_id="job",
        photo_path=Path("/nonexistent.jpg"),
        photo_format="JPEG",
        photo_orientation=1,
        api_key="key",
        deadline=Deadline.in_seconds(48),
        **values,
    )


@pytest.mark.parametrize(
    ("provider", "operation", "english", "russian"),
    [
        (
            GeminiProvider(),
            "generate",
            "The prompt is required for Gemini.",
            "Для Gemini обязателен промпт.",
        ),
        (
            TurbotextProvider(),
            "generate_image2image",
            "generate_image2image needs a prompt (content)",
            "Для generate_image2image нужен промпт (content)",
        ),
    ],
)
def test_a_jobs_failure_details_stay_english_under_a_russian_request(
    provider: object, operation: str, english: str, russian: str
) -> None:
    # Staff see the problem in their language on the slot page; a job that runs into it (a
    # test run served in Russian, say) records the booth's English details.
    with translation.override("ru"):
        assert list(provider.settings_problems(operation, {}).values()) == [russian]
        with pytest.raises(ProviderError, match=re.escape(english)):
            asyncio.run(provider.process(provider_request(operation=operation, settings={})))


# ---------------------------------------------------------------------------------------------
# The gallery (through Django's middleware, but no cookie of its own)


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    """The gallery's snapshot and request counters live in the cache: none from other tests."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def shared_gallery(db: None, fresh_cache: None) -> None:
    user = get_user_model().objects.create_user("operator", password=None, is_staff=True)
    gallery_share(minutes=30, user=user)


def test_gallery_follows_the_browser_language(shared_gallery: None) -> None:
    russian = Client().get("/gallery/", HTTP_ACCEPT_LANGUAGE=RUSSIAN)
    english = Client().get("/gallery/", HTTP_ACCEPT_LANGUAGE=ENGLISH)

    assert '<html lang="ru">' in russian.text
    assert "Галерея мероприятия" in russian.text
    labels = json.loads(re.search(r'id="gallery-labels"[^>]*>(.*?)</script>', russian.text)[1])
    assert labels["closed"].startswith("Галерея закрыта.")  # for its script
    assert russian["Content-Language"] == "ru"
    assert '<html lang="en">' in english.text
    assert "Event gallery" in english.text


def test_gallery_language_can_be_chosen_by_link_without_a_cookie(shared_gallery: None) -> None:
    english_phone = Client().get("/gallery/", {"lang": "ru"}, HTTP_ACCEPT_LANGUAGE=ENGLISH)
    russian_phone = Client().get("/gallery/", {"lang": "en"}, HTTP_ACCEPT_LANGUAGE=RUSSIAN)

    assert "Галерея мероприятия" in english_phone.text
    assert '<a href="?lang=en" lang="en" hreflang="en">English</a>' in english_phone.text
    assert '<strong lang="ru" aria-current="true">Русский</strong>' in english_phone.text
    assert "Event gallery" in russian_phone.text
    assert '<a href="?lang=ru" lang="ru" hreflang="ru">Русский</a>' in russian_phone.text
    assert not english_phone.cookies
    assert not russian_phone.cookies


def test_closed_gallery_speaks_the_guests_language(db: None, fresh_cache: None) -> None:
    response = Client().get("/gallery/", {"lang": "ru"})

    assert response.status_code == 403
    assert "Сейчас галерея закрыта." in response.text


def test_an_unknown_lang_falls_back_to_the_browser(db: None, fresh_cache: None) -> None:
    response = Client().get("/gallery/", {"lang": "xx"}, HTTP_ACCEPT_LANGUAGE=RUSSIAN)

    assert "Сейчас галерея закрыта." in response.text


# ---------------------------------------------------------------------------------------------
# The guest page (served without middleware, on the real server)


@pytest.mark.django_db(transaction=True)
def test_guest_page_speaks_russian_to_a_russian_phone(booth: Booth, photo: bytes) -> None:
    job_id = done_job_id(booth, photo, expires_in=timedelta(hours=3, minutes=5, seconds=30))

    response = booth.http.get(f"/r/{job_id}", headers={"Accept-Language": RUSSIAN})

    page = response.text
    assert '<html lang="ru">' in page
    for ours in ("Ваше фото", "Скачать", "осталось: 3 часа 5 минут", "Доступно до"):
        assert ours in page
    assert '<a href="?lang=en" lang="en" hreflang="en">English</a>' in page
    assert response.headers["content-language"] == "ru"


@pytest.mark.django_db(transaction=True)
def test_guest_page_speaks_english_to_an_english_phone(booth: Booth, photo: bytes) -> None:
    job_id = done_job_id(booth, photo, expires_in=timedelta(days=1, minutes=30))

    response = booth.http.get(f"/r/{job_id}", headers={"Accept-Language": ENGLISH})

    assert '<html lang="en">' in response.text
    assert "1 day left" in response.text
    assert "Download" in response.text
    assert '<a href="?lang=ru" lang="ru" hreflang="ru">Русский</a>' in response.text


@pytest.mark.django_db(transaction=True)
def test_guest_picks_a_language_by_link_and_gets_no_cookie(booth: Booth, photo: bytes) -> None:
    job_id = done_job_id(booth, photo)

    russian = booth.http.get(f"/r/{job_id}?lang=ru", headers={"Accept-Language": ENGLISH})
    english = booth.http.get(f"/r/{job_id}?lang=en", headers={"Accept-Language": RUSSIAN})
    gone = booth.http.get("/r/not-a-job?lang=ru", headers={"Accept-Language": ENGLISH})

    assert "Скачать" in russian.text
    assert "Download" in english.text
    assert gone.status_code == 404
    assert "Фото не найдено" in gone.text
    for response in (russian, english, gone):
        assert "set-cookie" not in response.headers


# ---------------------------------------------------------------------------------------------
# The staff API behind the slot page's test run


@pytest.mark.django_db(transaction=True)
def test_test_run_words_settings_problems_for_staff_but_keeps_the_code(
    booth: Booth, photo: bytes
) -> None:
    user = staff_with_role("staff", EVENT_OPERATOR)
    token = api_token_create(user=user, name="tests")[1]
    overrides = json.dumps({"operation": "posterize", "settings": {"bits": 99}})

    response = booth.http.post(
        "/api/slots/slot-004/test-run",
        files={"fileToUpload": ("test.jpg", photo, "image/jpeg")},
        data={"overrides": overrides},
        headers={"Authorization": f"Bearer {token}", "Accept-Language": RUSSIAN},
    )

    assert response.status_code == 422
    assert response.json()["failure_reason"] == "invalid_settings"
    assert response.json()["errors"] == {
        "settings.bits": "Параметр bits должен быть целым числом от 1 до 8."
    }
