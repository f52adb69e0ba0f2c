"""``digitlab teach`` and ``digitlab profile ...``: personal profiles from the command line.

Thin wrappers over ``digitlab.profiles.store``; ``cli.build_parser`` adds them with
``add_profile_commands``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from digitlab.cli.common import UNEXPECTED, read_input, terminal_text
from digitlab.errors import DigitLabError
from digitlab.evaluation.folder import read_labels_csv
from digitlab.imaging.pipeline import preprocess
from digitlab.profiles.store import MAX_SAMPLES, Profile, profile_names, read_capped

PROFILE_HELP = "a personal profile's name: answer through its taught digits (digitlab teach)"


def read_taught(path: str) -> object:
    """The 28x28 image of one file to teach (``-``: standard input)."""
    return preprocess(read_input(path))


def files_to_teach(args: argparse.Namespace, room: int) -> list[tuple[str, object, int]]:
    """(name shown, path, digit) of each image to teach, from FILE... --digit D or a CSV;
    more than ``room`` (what the profile can still take) is refused before any is read."""
    over = f"profile {args.profile!r} has room for {room:,} more digits, so split it"
    if args.from_csv:
        if args.files or args.digit is not None:
            raise DigitLabError("Give either FILE... --digit D or --from-csv FILE.csv, not both.")
        items = read_labels_csv(Path(args.from_csv), anywhere=True, limit=room, over_limit=over)
        return [(item.file, str(item.path), item.label) for item in items]
    if not args.files or args.digit is None:
        raise DigitLabError("Give the image files and --digit D, or --from-csv FILE.csv.")
    if len(args.files) > room:
        raise DigitLabError(f"{len(args.files):,} files were given; {over}.")
    return [(path, path, args.digit) for path in args.files]


def cmd_teach(args: argparse.Namespace) -> int:
    """Teach every readable image; one sentence per file that cannot be taught."""
    profile = Profile.open(args.profile)
    todo = files_to_teach(args, MAX_SAMPLES - len(profile))
    images, digits, sources, failed = [], [], [], 0
    for shown, path, digit in todo:
        try:
            images.append(read_taught(path))
        except DigitLabError as err:
            failed += 1
            print(terminal_text(f"{shown}: not taught: {err}"), file=sys.stderr)
            continue
        except Exception:  # a bug must not cost the other files their teaching
            failed += 1
            print(terminal_text(f"{shown}: not taught: {UNEXPECTED}"), file=sys.stderr)
            continue
        digits.append(digit)
        sources.append(Path(shown).name)
    if images:
        profile.teach_preprocessed(images, digits, sources)
    print(f"taught {len(images)} of {len(todo)} images to profile {profile.name!r} "
          f"(now {len(profile)} digits: {counts_text(profile)})")  # fmt: skip
    return 1 if failed else 0


def counts_text(profile: Profile) -> str:
    return ", ".join(f"{d}x{n}" for d, n in profile.counts().items() if n) or "none"


def cmd_profile_list(args: argparse.Namespace) -> int:
    for name in profile_names():
        try:
            print(f"{name}: {len(Profile.open(name))} digits")
        except DigitLabError as err:  # one damaged profile must not hide the others
            print(terminal_text(f"{name}: {err}"))
    return 0


def cmd_profile_show(args: argparse.Namespace) -> int:
    profile = Profile.open(args.name, create=False)
    samples = profile.samples()
    if args.json:
        print(json.dumps({"name": profile.name, "counts": profile.counts(),
                          "samples": [vars(s) for s in samples]}))  # fmt: skip
        return 0
    print(f"profile {profile.name!r}: {len(samples)} digits ({counts_text(profile)})")
    for s in samples:  # a source is any text an imported file says: shown, never obeyed
        print(terminal_text(f"  #{s.id}: {s.digit}  {s.source or '-'}  {s.taught_at}"))
    return 0


def cmd_profile_forget(args: argparse.Namespace) -> int:
    if not args.id and args.digit is None:
        raise DigitLabError("Say what to forget: --id ID... or --digit D.")
    profile = Profile.open(args.name, create=False)
    removed = profile.forget(args.id or (), digit=args.digit)
    print(f"forgot {removed} digits of profile {profile.name!r} (now {len(profile)})")
    return 0


def cmd_profile_reset(args: argparse.Namespace) -> int:
    profile = Profile.open(args.name, create=False)
    removed = profile.reset()
    print(f"profile {profile.name!r} reset: {removed} digits forgotten")
    return 0


def cmd_profile_export(args: argparse.Namespace) -> int:
    """Write the profile to FILE (a new file, or an existing one with --force) or to stdout."""
    profile = Profile.open(args.name, create=False)
    if args.file == "-":
        raw = profile.export_bytes()
        sys.stdout.flush()
        sys.stdout.buffer.write(raw)
        sys.stdout.buffer.flush()
        print(f"wrote {len(profile)} digits to standard output", file=sys.stderr)
        return 0
    count = profile.export(args.file, overwrite=args.force)
    print(terminal_text(f"wrote {args.file} ({count} digits)"))
    return 0


def cmd_profile_import(args: argparse.Namespace) -> int:
    try:
        raw = read_capped(Path(args.file))
    except OSError as err:
        raise DigitLabError(f"{args.file}: cannot be read ({err.strerror or err}).") from None
    count = Profile.open(args.name).import_bytes(raw, args.file)
    print(f"imported {count} digits into profile {args.name!r}")
    return 0


def add_profile_commands(sub) -> None:
    """``teach`` and ``profile list|show|forget|reset|export|import`` on ``sub``."""
    p = sub.add_parser("teach", help="teach a personal profile your handwriting")
    p.add_argument("files", nargs="*", metavar="FILE", help="images of one digit ('-': stdin)")
    p.add_argument("--digit", type=int, choices=range(10), help="the digit the FILEs show")
    p.add_argument("--from-csv", metavar="FILE.csv",
                   help="a CSV of file,label (paths absolute or relative to it)")  # fmt: skip
    p.add_argument("--profile", required=True, help="the profile's name (made on first use)")
    p.set_defaults(func=cmd_teach)

    p = sub.add_parser("profile", help="list, show, forget, reset, export or import profiles")
    actions = p.add_subparsers(dest="action", required=True)
    a = actions.add_parser("list", help="the profiles on this machine")
    a.set_defaults(func=cmd_profile_list)
    a = actions.add_parser("show", help="a profile's taught digits")
    a.add_argument("name")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_profile_show)
    a = actions.add_parser("forget", help="forget some taught digits")
    a.add_argument("name")
    a.add_argument("--id", type=int, nargs="+", help="the ids shown by 'profile show'")
    a.add_argument("--digit", type=int, choices=range(10), help="every taught digit D")
    a.set_defaults(func=cmd_profile_forget)
    a = actions.add_parser("reset", help="forget every taught digit")
    a.add_argument("name")
    a.set_defaults(func=cmd_profile_reset)
    a = actions.add_parser("export", help="write a profile as one portable file")
    a.add_argument("name")
    a.add_argument("file", metavar="FILE.npz", help="where to write it ('-': standard output)")
    a.add_argument("--force", action="store_true", help="replace FILE.npz if it exists")
    a.set_defaults(func=cmd_profile_export)
    a = actions.add_parser("import", help="make a profile from an exported file")
    a.add_argument("file", metavar="FILE.npz")
    a.add_argument("name")
    a.set_defaults(func=cmd_profile_import)
