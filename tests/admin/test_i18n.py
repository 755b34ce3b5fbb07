"""The staff pages in English and Russian: chosen by the browser, or by the staff member with
the header's English / Русский switch (Django's set_language), which then sticks."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import translation

from slots.models import Slot, TemplateImage
from tests.admin.test_slot_admin import new_template_image, slot_form, slot_page

SLOT_LIST = "/admin/slots/slot/"
SETTINGS_PAGE = "/admin/slots/globalsettings/1/change/"
STATS_PAGE = "/admin/stats/"
RUSSIAN = {"HTTP_ACCEPT_LANGUAGE": "ru-RU,ru;q=0.9,en;q=0.5"}
ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.9"}


@pytest.fixture(autouse=True)
def _no_language_left_active() -> Iterator[None]:
    # LocaleMiddleware activates the request's language in the test's own thread; later tests
    # (which read English messages outside any request) must not inherit Russian.
    yield
    translation.deactivate()


def text_of(client: Client, path: str, **headers: str) -> str:
    response = client.get(path, **headers)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def json_script(page: str, element_id: str) -> dict:
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', page)
    assert match, element_id
    return json.loads(match.group(1))


def test_login_page_follows_the_browser_language() -> None:
    russian = text_of(Client(), "/admin/login/", **RUSSIAN)
    english = text_of(Client(), "/admin/login/", **ENGLISH)

    assert '<html lang="ru"' in russian
    assert 'aria-label="Язык"' in russian  # our switch, offered before signing in
    assert 'value="ru" lang="ru" aria-current="true">Русский</button>' in russian
    assert '<html lang="en"' in english
    assert 'aria-label="Language"' in english
    assert 'value="en" lang="en" aria-current="true">English</button>' in english


def test_slot_list_speaks_the_browsers_language(staff: Client) -> None:
    russian = text_of(staff, SLOT_LIST, **RUSSIAN)
    english = text_of(staff, SLOT_LIST, **ENGLISH)

    for ours in ("Готово сегодня", "Ошибок сегодня", "Последний результат", "Провайдер"):
        assert ours in russian
    for ours in ("Done today", "Failed today", "Last result", "Provider"):
        assert ours in english
        assert ours not in russian


def test_admin_index_names_our_apps_and_pages_in_russian(staff: Client) -> None:
    page = text_of(staff, "/admin/", **RUSSIAN)

    for ours in ("Подготовка мероприятия", "Приём фото", "Задания", "Слоты", "API-токены"):
        assert ours in page
    assert "Статистика, задания в реальном времени и галерея" in page


def test_slot_page_and_its_test_run_panel_speak_russian(staff: Client) -> None:
    page = text_of(staff, slot_page("slot-004"), **RUSSIAN)

    for ours in ("Обработка", "Ограничения", "Тестовый запуск", "Обработать тестовое фото"):
        assert ours in page
    assert "Ответить JSON-ошибкой (фотобудка печатает свой оригинал)" in page  # a choice
    labels = json_script(page, "test-run-labels")
    assert labels["choose_photo"] == "Сначала выберите фото."
    assert labels["done_in"] == "Готово за %(time)s"
    assert labels["seconds"] == "с"  # noqa: RUF001 (a Cyrillic letter, as meant)


def test_slot_page_in_english_keeps_the_english_words(staff: Client) -> None:
    page = text_of(staff, slot_page("slot-004"), **ENGLISH)

    assert "Run test photo" in page
    assert json_script(page, "test-run-labels")["choose_photo"] == "Choose a photo first."
    assert "Тестовый запуск" not in page


def test_a_providers_settings_problem_is_shown_in_russian(staff: Client) -> None:
    slot = Slot.objects.get(pk="slot-004")

    response = staff.post(slot_page(slot.pk), slot_form(slot, settings='{"bits": 99}'), **RUSSIAN)

    page = html.unescape(response.content.decode())
    assert page.count("Настройка «bits»: Параметр bits должен быть целым числом от 1 до 8.") == 1
    assert "must be a whole number" not in page
    assert Slot.objects.get(pk=slot.pk).settings == {"bits": 3}


def test_a_wrong_operation_is_refused_in_russian(staff: Client) -> None:
    slot = Slot.objects.get(pk="slot-001")

    response = staff.post(slot_page(slot.pk), slot_form(slot, provider="gemini"), **RUSSIAN)

    page = html.unescape(response.content.decode())
    assert page.count("Gemini нет операции «passthrough»; используйте «generate».") == 1
    assert page.count("Настройка «prompt»: Для Gemini обязателен промпт.") == 1


def test_a_refused_template_image_is_explained_in_russian(staff: Client) -> None:
    slot = Slot.objects.get(pk="slot-005")
    upload = SimpleUploadedFile("notes.png", b"not an image at all", "image/png")
    form = slot_form(slot) | new_template_image("overlay", upload)

    response = staff.post(slot_page(slot.pk), form, **RUSSIAN)

    page = html.unescape(response.content.decode())
    reason = "файл не является изображением JPEG, PNG или WebP"
    assert f"Этот файл нельзя использовать: {reason}." in page
    assert not TemplateImage.objects.exists()


def test_settings_page_speaks_russian(staff: Client) -> None:
    page = text_of(staff, SETTINGS_PAGE, **RUSSIAN)

    for ours in (
        "Фотобудка",
        "Пароль приёма фото",
        "API-ключи провайдеров",
        "Новый API-ключ Gemini",
    ):
        assert ours in page
    assert "слоты этого провайдера завершаются ошибкой provider_error." in page


def test_stats_page_and_its_script_words_speak_russian(staff: Client) -> None:
    page = text_of(staff, STATS_PAGE, **RUSSIAN)

    assert "Статистика и задания в реальном времени" in page
    for ours in ("Задания по времени", "Галерея мероприятия", "Открыть на", "60 минут", "1 час"):
        assert ours in page
    labels = json_script(page, "stats-labels")
    assert labels["live"] == "в эфире"
    assert labels["units"]["ms"] == "мс"
    assert labels["media_kinds"]["thumbnail"] == "миниатюра"


def test_stats_page_in_english(staff: Client) -> None:
    page = text_of(staff, STATS_PAGE, **ENGLISH)

    assert "Statistics and live jobs" in page
    assert "60 minutes" in page
    assert json_script(page, "stats-labels")["live"] == "live"


def test_the_switch_sets_a_language_that_sticks_over_the_browsers(staff: Client) -> None:
    switched = staff.post("/i18n/setlang/", {"language": "ru", "next": SLOT_LIST}, **ENGLISH)

    assert switched.status_code == 302
    assert switched["Location"] == SLOT_LIST
    # Later pages, whatever the browser asks for, until switched back.
    assert "Готово сегодня" in text_of(staff, SLOT_LIST, **ENGLISH)
    assert "Статистика и задания в реальном времени" in text_of(staff, STATS_PAGE, **ENGLISH)

    staff.post("/i18n/setlang/", {"language": "en", "next": SLOT_LIST}, **RUSSIAN)

    assert "Done today" in text_of(staff, SLOT_LIST, **RUSSIAN)


def test_the_switch_is_in_the_header_of_every_staff_page(staff: Client) -> None:
    for path in (SLOT_LIST, slot_page("slot-001"), SETTINGS_PAGE, STATS_PAGE, "/admin/"):
        page = text_of(staff, path, **ENGLISH)
        header = page[page.index('<div id="user-tools">') : page.index("</header>")]
        assert 'action="/i18n/setlang/"' in header
        assert f'name="next" value="{path}"' in header
        assert 'value="ru" lang="ru">Русский</button>' in header


def test_a_flash_message_speaks_russian(staff: Client) -> None:
    staff.post("/admin/stats/gallery", {"action": "share", "minutes": "30"}, **RUSSIAN)

    assert "Галерея открыта на 30 минут." in text_of(staff, STATS_PAGE, **RUSSIAN)
