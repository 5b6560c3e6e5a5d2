"""A kernel-free explorer as HTML: its controls, its first view inline, and every view packed for ``explorer.js``.

Images become files beside the page (WebP, lossless when that is not much larger, since most views
are figures with text); a photo that HTML views embed as a data URI is written once and linked from
every view. The views are then one gzip-compressed JSON list in the page, which ``explorer.js``
unpacks and indexes as the controls move (row-major: the last control varies fastest).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import io
import json
import re
from pathlib import Path
from typing import Any

from PIL import Image

WEBP_QUALITY = 80  # lossy WebP, for views where lossless would be much larger (photos, feature maps)
LOSSLESS_SLACK = 1.3  # keep the lossless encoding while it is at most this much larger than the lossy one
DATA_URI = re.compile(r"data:image/(png|jpeg|webp|svg\+xml);base64,([A-Za-z0-9+/=]+)")
SUFFIX = {"png": "png", "jpeg": "jpg", "webp": "webp", "svg+xml": "svg"}


def _webp(png: bytes) -> bytes:
    image = Image.open(io.BytesIO(png))
    image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    encoded = []
    for options in ({"lossless": True, "method": 4}, {"quality": WEBP_QUALITY, "method": 4}):
        buffer = io.BytesIO()
        image.save(buffer, format="webp", **options)
        encoded.append(buffer.getvalue())
    lossless, lossy = encoded
    return lossless if len(lossless) <= LOSSLESS_SLACK * len(lossy) else lossy


class FrameWriter:
    """Writes the files of one page's explorers into ``folder``, linked from the page as ``prefix/...``."""

    def __init__(self, folder: Path, prefix: str) -> None:
        self.folder, self.prefix = folder, prefix

    def _write(self, data: bytes, suffix: str) -> str:
        name = f"{hashlib.blake2b(data, digest_size=8).hexdigest()}.{suffix}"
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / name
        if not path.exists():  # the same picture in two views is stored once
            path.write_bytes(data)
        return f"{self.prefix}/{name}"

    def view(self, frame: dict[str, str], alt: str) -> str:
        """The HTML of one view, its pictures moved to files."""
        if "png" in frame:
            url = self._write(_webp(base64.b64decode(frame["png"])), "webp")
            return f'<img src="{url}" alt="{html.escape(alt)}">'
        return DATA_URI.sub(lambda m: self._write(base64.b64decode(m[2]), SUFFIX[m[1]]), frame["html"])


def _control(control: dict[str, Any], number: int) -> str:
    labels = control["labels"]
    name = f"explorer-{number}-{control['name']}"
    common = (
        f'id="{name}" data-control="{html.escape(control["name"])}" data-size="{len(labels)}" '
        f"data-labels='{html.escape(json.dumps(labels), quote=True)}'"
    )
    label = f'<label for="{name}">{html.escape(control["description"])}</label>'
    if control["kind"] == "slider":
        return (
            f'<span class="explorer-control">{label}<input type="range" min="0" max="{len(labels) - 1}" step="1" '
            f'value="{control["index"]}" {common}><output>{html.escape(labels[control["index"]])}</output></span>'
        )
    options = "".join(
        f'<option value="{i}"{" selected" if i == control["index"] else ""}>{html.escape(text)}</option>'
        for i, text in enumerate(labels)
    )
    return f'<span class="explorer-control">{label}<select {common}>{options}</select></span>'


def explorer_html(data: dict[str, Any], writer: FrameWriter, number: int) -> str:
    """The page markup of one kernel-free explorer (``explorers.frames.static_frames``'s JSON)."""
    views = [writer.view(frame, data["title"]) for frame in data["frames"]]
    moving = [c for c in data["controls"] if len(c["labels"]) > 1]
    fixed = [c for c in data["controls"] if len(c["labels"]) == 1]
    start = 0
    for control in data["controls"]:
        start = start * len(control["labels"]) + control["index"]
    packed = base64.b64encode(gzip.compress(json.dumps(views).encode(), mtime=0)).decode("ascii")
    note = f"{len(views)} views computed when the site was built"
    if fixed:
        note += "; fixed here: " + ", ".join(f"{c['description']} {c['labels'][0]}" for c in fixed)
    return (
        f'<div class="static-explorer" data-views="{len(views)}">'
        f'<div class="explorer-title"><b>{html.escape(data["title"])}</b></div>'
        f'<div class="explorer-controls">{"".join(_control(c, number) for c in moving)}</div>'
        f'<div class="explorer-view">{views[start]}</div>'
        f'<div class="explorer-note">{html.escape(note)} (run the notebook for every value)</div>'
        f'<script type="application/octet-stream" class="explorer-frames">{packed}</script></div>'
    )
