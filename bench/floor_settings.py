"""Settings for bench/ingest.py's ``floor`` server: PhotoChanger's settings and HTTP stack
(``manage.py serve``: daphne, Django with its middleware) with a single
django-ninja route that echoes the request body, as bench/echo_app.py does under uvicorn.

Its time is what the stack costs before any of the product's own work (form, checks, database,
storage): the part of ours/bare that no change to the ingest code can remove.
"""

from photochanger.settings import *  # noqa: F403

ROOT_URLCONF = "bench.floor_urls"

# The echo reads the whole body as request.body, which Django bounds by this setting.
DATA_UPLOAD_MAX_MEMORY_SIZE = None
