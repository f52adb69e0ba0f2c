"""``digitlab teach``, ``digitlab profile ...`` and ``--profile`` on the commands that answer."""

from __future__ import annotations

import json
import os
import stat
import time

import numpy as np
import pytest
from PIL import Image

from digitlab.cli.main import main
from digitlab.data.mnist import load_mnist
from digitlab.profiles.store import Profile


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def paper_pngs(folder, count: int, start: int = 0) -> list[tuple[str, int]]:
    """MNIST training digits as dark ink on white paper: (file name, label) each."""
    images, labels = load_mnist("train")
    folder.mkdir(exist_ok=True)
    made = []
    for i in range(start, start + count):
        name = f"d{i}.png"
        Image.fromarray(255 - images[i]).resize((112, 112)).save(folder / name)
        made.append((name, int(labels[i])))
    return made


def run(capsys, argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.slow  # about 5 s; the other profile commands stay fast
def test_teach_files_then_predict_through_the_profile(tmp_path, capsys):
    (name, label), *_ = paper_pngs(tmp_path, 1)
    path = str(tmp_path / name)
    _, out, _ = run(capsys, ["predict", path, "--model", "knn", "--json"])
    assert json.loads(out)["digit"] == label
    taught = (label + 1) % 10
    code, out, _ = run(capsys, ["teach", path, path, "--digit", str(taught), "--profile", "me"])
    assert code == 0 and f"taught 2 of 2 images to profile 'me' (now 2 digits: {taught}x2)" in out
    for model_id in ("logreg", "knn", "ann", "cnn"):
        _, out, _ = run(capsys, ["predict", path, "--model", model_id, "--profile", "me", "--json"])
        assert json.loads(out)["digit"] == taught


def test_teach_from_csv_takes_absolute_paths_and_paths_from_the_working_directory(
    tmp_path, capsys, monkeypatch
):
    made = paper_pngs(tmp_path / "imgs", 2)
    (tmp_path / "lists").mkdir()
    rows = [f"{tmp_path / 'imgs' / made[0][0]},{made[0][1]}", f"imgs/{made[1][0]},{made[1][1]}"]
    (tmp_path / "lists" / "mine.csv").write_text("file,label\n" + "\n".join(rows) + "\n")
    monkeypatch.chdir(tmp_path)  # the second path is relative to here, not to the CSV
    code, out, err = run(capsys, ["teach", "--from-csv", "lists/mine.csv", "--profile", "me"])
    assert code == 0 and not err and "taught 2 of 2 images" in out
    taught = Profile.open("me", create=False).samples()
    assert [s.digit for s in taught] == [label for _, label in made]


def test_teach_from_csv_keeps_the_good_images_and_names_the_bad_one(tmp_path, capsys):
    made = paper_pngs(tmp_path / "imgs", 6)
    (tmp_path / "imgs" / "broken.png").write_bytes(b"not an image")
    rows = [f"imgs/{name},{label},w1" for name, label in made] + ["imgs/broken.png,3,w1"]
    (tmp_path / "mine.csv").write_text("file,label,writer\n" + "\n".join(rows) + "\n")
    code, out, err = run(capsys, ["teach", "--from-csv", str(tmp_path / "mine.csv"),
                                  "--profile", "me"])  # fmt: skip
    assert code == 1
    assert err.count("not taught") == 1 and err.startswith("imgs/broken.png: not taught: ")
    assert "taught 6 of 7 images" in out
    profile = Profile.open("me", create=False)
    assert [s.digit for s in profile.samples()] == [label for _, label in made]
    assert [s.source for s in profile.samples()] == [name for name, _ in made]


def test_teach_needs_files_and_a_digit_or_a_csv(tmp_path, capsys):
    code, _, err = run(capsys, ["teach", "--profile", "me"])
    assert code == 2 and err == (
        "digitlab: error: Give the image files and --digit D, or --from-csv FILE.csv.\n"
    )
    code, _, err = run(capsys, ["teach", "x.png", "--digit", "3", "--profile", "../up"])
    assert code == 2 and "is not a usable profile name" in err and "Traceback" not in err


def test_profile_list_show_forget_reset(tmp_path, capsys):
    made = paper_pngs(tmp_path, 3)
    for name, label in made:
        run(capsys, ["teach", str(tmp_path / name), "--digit", str(label), "--profile", "me"])
    code, out, _ = run(capsys, ["profile", "list"])
    assert code == 0 and out == "me: 3 digits\n"
    _, out, _ = run(capsys, ["profile", "show", "me", "--json"])
    shown = json.loads(out)
    assert [s["digit"] for s in shown["samples"]] == [label for _, label in made]
    assert [s["source"] for s in shown["samples"]] == [name for name, _ in made]
    first = shown["samples"][0]["id"]
    code, out, _ = run(capsys, ["profile", "forget", "me", "--id", str(first)])
    assert code == 0 and out == "forgot 1 digits of profile 'me' (now 2)\n"
    code, out, _ = run(capsys, ["profile", "reset", "me"])
    assert out == "profile 'me' reset: 2 digits forgotten\n"
    code, _, err = run(capsys, ["profile", "show", "nobody"])
    assert code == 2 and err == "digitlab: error: There is no profile 'nobody' (profiles: me).\n"


def test_profile_export_import_and_a_foreign_file(tmp_path, capsys):
    (name, label), *_ = paper_pngs(tmp_path, 1)
    run(capsys, ["teach", str(tmp_path / name), "--digit", str(label), "--profile", "me"])
    code, out, _ = run(capsys, ["profile", "export", "me", str(tmp_path / "me.npz")])
    assert code == 0 and out == f"wrote {tmp_path / 'me.npz'} (1 digits)\n"
    code, out, _ = run(capsys, ["profile", "import", str(tmp_path / "me.npz"), "copy"])
    assert code == 0 and out == "imported 1 digits into profile 'copy'\n"
    assert np.array_equal(Profile.open("copy").images(), Profile.open("me").images())
    code, _, err = run(capsys, ["profile", "import", str(tmp_path / name), "other"])
    assert code == 2 and err.startswith(f"digitlab: error: {tmp_path / name} is damaged (")


def test_evaluate_folder_through_a_profile(tmp_path, capsys):
    made = paper_pngs(tmp_path / "folder", 12)
    (tmp_path / "folder" / "labels.csv").write_text(
        "file,label\n" + "".join(f"{name},{label}\n" for name, label in made)
    )
    # Teach every image as the digit after its own: through the profile every answer moves.
    for name, label in made:
        path = str(tmp_path / "folder" / name)
        run(capsys, ["teach", path, "--digit", str((label + 1) % 10), "--profile", "odd"])
    folder = str(tmp_path / "folder")
    _, out, _ = run(capsys, ["evaluate-folder", folder, "--model", "knn", "--json"])
    assert json.loads(out)["accuracy"] == 1.0
    _, out, _ = run(capsys, ["evaluate-folder", folder, "--model", "knn", "--json",
                             "--profile", "odd"])  # fmt: skip
    assert json.loads(out)["accuracy"] == 0.0


@pytest.mark.slow  # the whole MNIST test set through a profile
def test_evaluate_takes_a_profile(tmp_path, capsys):
    images, labels = load_mnist("train")
    Profile.open("me").teach_preprocessed(images[:5].astype(np.float32) / 255, labels[:5])
    code, out, _ = run(capsys, ["evaluate", "--model", "logreg", "--json", "--profile", "me"])
    assert code == 0 and json.loads(out)["accuracy"] > 0.9
    code, _, err = run(capsys, ["evaluate", "--model", "logreg", "--profile", "nobody"])
    assert code == 2 and "There is no profile 'nobody'" in err


# -- hostile profiles, sources, export targets, limits (issue 21) ----------------------------


def test_a_damaged_profile_is_listed_as_damaged_and_reset_mends_it(tmp_path, capsys):
    from test_profiles import hostile_profiles

    made = paper_pngs(tmp_path, 1)
    run(capsys, ["teach", str(tmp_path / made[0][0]), "--digit", "3", "--profile", "good"])
    bad = Profile.open("bad")
    bad.directory.mkdir(parents=True)
    bad.path.write_bytes(hostile_profiles()["deep-manifest"])
    code, out, err = run(capsys, ["profile", "list"])
    assert code == 0 and not err
    assert out.splitlines()[0].startswith("bad: Profile 'bad' is damaged (")
    assert out.splitlines()[1] == "good: 1 digits"
    teach = ["teach", str(tmp_path / made[0][0]), "--digit", "3", "--profile", "bad"]
    for argv in (["profile", "show", "bad"], teach):
        code, out, err = run(capsys, argv)
        assert code == 2 and err.startswith("digitlab: error: Profile 'bad' is damaged (")
        assert err.count("\n") == 1
    code, out, _ = run(capsys, ["profile", "reset", "bad"])
    assert code == 0 and out == "profile 'bad' reset: 0 digits forgotten\n"
    assert run(capsys, ["profile", "list"])[1] == "bad: 0 digits\ngood: 1 digits\n"


def test_profile_show_prints_a_hostile_source_as_inert_text(capsys):
    images, labels = load_mnist("train")
    forged = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\nprofile 'me': 0 digits\u202e"
    Profile.open("me").teach_preprocessed([images[0] / 255], [5], [forged])
    code, out, _ = run(capsys, ["profile", "show", "me"])
    assert code == 0 and len(out.splitlines()) == 2
    assert not any(c in out for c in "\x1b\x07\u202e")
    assert "\\x1b]0;pwned\\x07" in out.splitlines()[1]


def test_teach_names_a_hostile_file_name_on_one_line(tmp_path, capsys):
    path = tmp_path / "a\x1b[2Jb\nfake: taught.png"
    path.write_bytes(b"not an image")
    code, _, err = run(capsys, ["teach", str(path), "--digit", "3", "--profile", "me"])
    assert code == 1 and len(err.splitlines()) == 1 and "\x1b" not in err


def test_export_never_replaces_what_is_not_a_regular_file(tmp_path, capsys):
    (name, label), *_ = paper_pngs(tmp_path, 1)
    run(capsys, ["teach", str(tmp_path / name), "--digit", str(label), "--profile", "me"])
    fifo, link, folder = tmp_path / "fifo", tmp_path / "link.npz", tmp_path / "dir"
    os.mkfifo(fifo)
    (tmp_path / "target").write_bytes(b"keep me")
    link.symlink_to(tmp_path / "target")
    folder.mkdir()
    cases = {str(fifo): "is not a regular file", str(link): "is not a regular file",
             "/dev/null": "is not a regular file", str(folder): "is a folder",
             str(tmp_path / name / "under.npz"): "cannot be written (Not a directory)",
             str(tmp_path / name): "already exists; use --force"}  # fmt: skip
    for target, problem in cases.items():
        code, out, err = run(capsys, ["profile", "export", "me", target])
        assert code == 2 and problem in err and err.count("\n") == 1, (target, err)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and link.is_symlink()
    assert (tmp_path / "target").read_bytes() == b"keep me"
    code, out, _ = run(capsys, ["profile", "export", "me", str(tmp_path / name), "--force"])
    assert code == 0 and Profile.open("x").import_bytes((tmp_path / name).read_bytes()) == 1


def test_export_to_standard_output(tmp_path, capsysbinary):
    (name, label), *_ = paper_pngs(tmp_path, 1)
    main(["teach", str(tmp_path / name), "--digit", str(label), "--profile", "me"])
    capsysbinary.readouterr()
    assert main(["profile", "export", "me", "-"]) == 0
    captured = capsysbinary.readouterr()
    assert captured.err == b"wrote 1 digits to standard output\n"
    assert Profile.open("copy").import_bytes(captured.out) == 1


def test_teach_from_csv_checks_its_limits_before_reading_any_image(tmp_path, capsys):
    rows = "".join(f"missing{i}.png,3\n" for i in range(1001))
    (tmp_path / "many.csv").write_text("file,label\n" + rows)
    start = time.perf_counter()
    code, out, err = run(capsys, ["teach", "--from-csv", str(tmp_path / "many.csv"),
                                  "--profile", "me"])  # fmt: skip
    assert time.perf_counter() - start < 5 and code == 2 and not out
    assert err == (f"digitlab: error: {tmp_path / 'many.csv'} lists 1,001 images; profile 'me' "
                   "has room for 1,000 more digits, so split it.\n")  # fmt: skip
    rows = "".join(f"m{i}.png,3\n" for i in range(100_005))
    (tmp_path / "huge.csv").write_text("file,label\n" + rows)
    code, _, err = run(capsys, ["teach", "--from-csv", str(tmp_path / "huge.csv"),
                                "--profile", "me"])  # fmt: skip
    assert code == 2 and "lists 100,005 images" in err
