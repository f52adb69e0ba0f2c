"""Untrusted text on a page: file names and profile sources are shown, never interpreted."""

from __future__ import annotations

import re

# Markdown's special characters; escaped, they show as themselves.
MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:&])")


def plain(text: str) -> str:
    """``text`` (a file name, a sentence naming one) as Markdown that shows it literally: no
    image fetched, no link, no colour or bold, whatever an uploaded file's name says."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", text)
