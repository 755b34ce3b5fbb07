"""A real Chromium (Debian's) driven by Playwright against our server in a subprocess.

The browser fixtures are module-scoped: one Chromium per test module, closed before the next
module's tests run. While Playwright's sync API is open it keeps an asyncio loop marked as
running in this thread, and Django refuses ORM calls from a thread with a running loop; the
tests' own database work is plain synchronous code between browser steps, so that guard is
switched off for this test process while the browser is open (Playwright's advice for Django).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.contenttypes.models import ContentType
from playwright.sync_api import Browser, Page, sync_playwright

from tests.live import REPO, ServerProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STAFF_USERNAME = "operator"
STAFF_PASSWORD = "correct-horse-battery-7"
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="module")
def browser(server_process: ServerProcess) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian's Chromium is not installed at {CHROMIUM}")
    # server_process is started before the variable is set, so our server never inherits it.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()


@pytest.fixture(scope="session")
def content_type_ids() -> dict[tuple[str, str], int]:
    return {}


@pytest.fixture(autouse=True)
def _same_content_type_ids(configured: None, content_type_ids: dict[tuple[str, str], int]) -> None:
    """Give content types the ids they had in the first browser test.

    Our server lives across tests and caches content type ids (the admin writes them in its
    change log), while the database flush after each test recreates the rows with new ids;
    the next admin save would then fail its foreign key check.
    """
    current = {(kind.app_label, kind.model): kind.pk for kind in ContentType.objects.all()}
    if not content_type_ids:
        content_type_ids.update(current)
    elif current != content_type_ids:
        ContentType.objects.all().delete()
        ContentType.objects.bulk_create(
            ContentType(pk=pk, app_label=app_label, model=model)
            for (app_label, model), pk in content_type_ids.items()
        )
    ContentType.objects.clear_cache()


@pytest.fixture(scope="session")
def staff_password_hash() -> str:
    # One slow PBKDF2 per session instead of one per test.
    return make_password(STAFF_PASSWORD)


@pytest.fixture
def staff_user(configured: None, staff_password_hash: str) -> object:
    return get_user_model().objects.create(
        username=STAFF_USERNAME,
        password=staff_password_hash,
        is_staff=True,
        is_superuser=True,
    )


@pytest.fixture
def page(browser: Browser, server_process: ServerProcess) -> Iterator[Page]:
    context = browser.new_context(base_url=server_process.base_url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def log_in(page: Page, password: str = STAFF_PASSWORD) -> None:
    page.goto("/admin/login/")
    page.fill("#id_username", STAFF_USERNAME)
    page.fill("#id_password", password)
    page.click("input[type=submit]")


@pytest.fixture
def staff_page(page: Page, staff_user: object) -> Page:
    """A page logged in as a staff member, through the login form."""
    log_in(page)
    page.wait_for_selector("#site-name")
    assert page.url.endswith("/admin/"), page.url
    return page


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def image_loaded(page: Page, selector: str) -> None:
    """Wait until the image at ``selector`` is shown and decoded (naturalWidth > 0)."""
    page.wait_for_function(
        """selector => {
            const image = document.querySelector(selector);
            return image && !image.hidden && image.complete && image.naturalWidth > 0;
        }""",
        arg=selector,
    )
