"""Where the people are in a photo: a soft mask from MediaPipe's selfie segmentation.

The model (``selfie_segmentation.tflite``, Apache-2.0) ships inside the ``mediapipe`` 0.10.21
wheel, so nothing is downloaded at run time and it works with no internet. It sees a 256 px
square, so it gets a copy of at most ``_MASK_SIDE`` px and its mask is feathered there and scaled
up: a 24 MP photo costs one reduction and one bilinear upscale, not a model run at 6000 px.

MediaPipe and the OpenCV it brings add ~110 MB to a process, so they are imported on first use:
a server whose slots never ask for people pays nothing.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from functools import cache

from PIL import Image, ImageFilter

# Long side of the copy the model sees; its own input is 256 px, twice that keeps thin edges.
_MASK_SIDE = 512
# Scores below are background, above are the person; between, a soft edge.
_BACKGROUND_BELOW = 0.2
_PERSON_ABOVE = 0.8
# Feathering at the mask's scale: ~2 px there is ~20 px of soft edge on a 24 MP photo.
_FEATHER_RADIUS = 2.0
# Of a person's box, the share from its top that holds the face (for crops kept on faces).
_FACE_SHARE = 0.2

# One model serves every image thread: a run takes ~15 ms, a second copy would cost memory.
_model_lock = threading.Lock()


class SegmentationUnavailable(RuntimeError):
    """MediaPipe is not installed (no wheel for this Python or platform)."""


def segmentation_available() -> bool:
    """Whether MediaPipe is installed, without importing it (that costs ~110 MB and ~2 s)."""
    return importlib.util.find_spec("mediapipe") is not None


def person_mask(image: Image.Image) -> Image.Image:
    """A mask (mode L, the size of ``image``) that is 255 on the people, 0 on the background,
    with feathered edges. Raises SegmentationUnavailable without MediaPipe."""
    small = _mask_scale_copy(image)
    return _soft_mask(small).resize(image.size, Image.Resampling.BILINEAR)


def people_focus(image: Image.Image) -> tuple[float, float] | None:
    """The point a crop should keep, as fractions of the width and height: across, the middle
    of the people; down, where their faces are. None when the photo shows no one, or MediaPipe
    is not installed."""
    try:
        mask = _soft_mask(_mask_scale_copy(image))
    except SegmentationUnavailable:
        return None
    box = mask.point(lambda value: 255 if value >= 128 else 0).getbbox()
    if box is None:
        return None
    left, top, right, bottom = box
    x = (left + right) / 2 / mask.width
    y = (top + (bottom - top) * _FACE_SHARE) / mask.height
    return x, y


def _mask_scale_copy(image: Image.Image) -> Image.Image:
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    factor = max(1, max(rgb.size) // (2 * _MASK_SIDE))
    # reduce() averages blocks (fast, exact for a whole factor); the thumbnail finishes it.
    small = rgb.reduce(factor) if factor > 1 else rgb.copy()
    small.thumbnail((_MASK_SIDE, _MASK_SIDE), Image.Resampling.BILINEAR)
    return small


def _soft_mask(small: Image.Image) -> Image.Image:
    import numpy as np  # comes with MediaPipe

    model = _model()
    with _model_lock:
        scores = model.process(np.asarray(small)).segmentation_mask
    span = _PERSON_ABOVE - _BACKGROUND_BELOW
    levels = np.clip((scores - _BACKGROUND_BELOW) / span, 0.0, 1.0) * 255
    mask = Image.fromarray(levels.astype(np.uint8))
    return mask.filter(ImageFilter.GaussianBlur(_FEATHER_RADIUS))


@cache
def _model():
    # MediaPipe's C++ side logs each graph it builds to stderr; warnings and errors are enough.
    os.environ.setdefault("GLOG_minloglevel", "2")
    try:
        from mediapipe.python.solutions.selfie_segmentation import SelfieSegmentation
    except ImportError as error:
        raise SegmentationUnavailable(
            "person segmentation needs the mediapipe package (Python 3.11 or 3.12)"
        ) from error
    # 0: the general model (256x256), for portraits and groups alike.
    return SelfieSegmentation(model_selection=0)
