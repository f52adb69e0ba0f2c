"""What every ``digitlab`` subcommand shares: reading an input file, and the sentence for a bug."""

from __future__ import annotations

from digitlab.imaging.decode import read_image_file, read_standard_input

UNEXPECTED = "Something went wrong while reading this file; the other files are still answered."


def read_input(path: str) -> bytes:
    """A file's bytes, capped and never blocking (``-``: standard input); see ``imaging.decode``."""
    return read_standard_input() if path == "-" else read_image_file(path)


def terminal_text(text: str) -> str:
    """``text`` safe to print on a terminal: control characters (escape sequences, newlines that
    would forge lines, bidi overrides) and undecodable bytes shown as escapes like ``\\x1b``."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def json_text(name: str) -> str:
    """A file name as valid JSON text: bytes that are not UTF-8 (kept by Python as lone
    surrogates, which strict JSON readers refuse) become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
