"""Size limits every part of the server agrees on."""

from __future__ import annotations

# No photo is accepted above this, whatever a slot's own limit says (SPEC §3: 20 MiB).
UPLOAD_CAP_MB = 20
# The photo may be up to the cap; the rest of the booth's form (metadata, part headers) is small.
# Anything beyond this cannot be an acceptable upload.
MAX_REQUEST_BODY_BYTES = UPLOAD_CAP_MB * 1024 * 1024 + 256 * 1024
