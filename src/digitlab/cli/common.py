"""What every ``digitlab`` subcommand shares: reading an input file, and the sentence for a bug."""

from __future__ import annotations

from digitlab.imaging.decode import read_image_file, read_standard_input

UNEXPECTED = "Something went wrong while reading this file; the other files are still answered."


def read_input(path: str) -> bytes:
    """A file's bytes, capped and never blocking (``-``: standard input); see ``imaging.decode``."""
    return read_standard_input() if path == "-" else read_image_file(path)
