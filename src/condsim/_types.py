"""Types shared by packages that must not import each other (encoders and data both take images).

This module sits below every package and imports nothing of ours.
"""

from __future__ import annotations

import os
from typing import TypeAlias

from PIL import Image

#: what an encoder accepts as one image: a file path, encoded bytes, or a decoded PIL image
ImageInput: TypeAlias = "str | os.PathLike[str] | bytes | Image.Image"
