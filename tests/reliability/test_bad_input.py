"""Bad input through the CLI, as a user meets it.  Each case states the mistake, the message
that must name the bad value and what is allowed, and what must stay as it was: exit code
2, no traceback, nothing started, nothing written or lost."""
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from pipelines.beton import ArraySource, write_beton
from tuning.cli import app

pytestmark = pytest.mark.service  # runs the CLI in subprocesses

runner = CliRunner()


@pytest.fixture(scope="module")
def betons(tmp_path_factory):
    """A valid .beton, one of other classes, a truncated copy, a .beton with other fields,
    and a 'file' where a folder is needed."""
    from ffcv.fields import FloatField, IntField
    from ffcv.writer import DatasetWriter

    root = tmp_path_factory.mktemp("betons")
    images = np.random.default_rng(0).integers(0, 256, (16, 12, 12, 3), dtype=np.uint8)
    good = write_beton(ArraySource(images, np.arange(16) % 2), root / "good.beton", ["a", "b"])
    write_beton(ArraySource(images, np.arange(16) % 3), root / "three.beton", ["a", "b", "c"])
    (root / "cut.beton").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    DatasetWriter(str(root / "tabular.beton"), {"x": FloatField(), "y": IntField()}).from_indexed_dataset(
        [(1.0, 1), (2.0, 0)])
    (root / "a_file").write_text("not a folder")
    return root


def _config(tmp_path, text):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return ["pretrain", "--config", str(path)]


def _space(tmp_path, params):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump({"name": "bad", "base": "digits-simclr", "params": params}))
    return ["tune", "--space", str(path)]


def _user_data(train, val):
    return ["pretrain", "--preset", "digits-simclr", "--data", str(train), "--test-data", str(val)]


def _image_folder_without_images(tmp_path):
    (tmp_path / "tree" / "cat").mkdir(parents=True)
    (tmp_path / "tree" / "cat" / "notes.txt").write_text("no image here")
    return ["data", "write", "--source", str(tmp_path / "tree"), "--out", str(tmp_path / "out.beton")]


def _image_folder(tmp_path):
    from PIL import Image

    (tmp_path / "tree" / "cat").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "tree" / "cat" / "a.png")
    return tmp_path / "tree"


def _write_image_folder(tmp_path, *options):
    return ["data", "write", "--source", str(_image_folder(tmp_path)), "--out", str(tmp_path / "out.beton"), *options]


CASES = {
    "unknown config key": (lambda t, b: _config(t, "optim: {base_lr: 0.5, lr: 1}\n"), "unknown key 'optim.lr'"),
    "wrong type": (lambda t, b: _config(t, "optim: {base_lr: fast}\n"),
                   "optim.base_lr: Input should be a valid number"),
    "malformed projector spec": (lambda t, b: _config(t, "model: {projector: 8192-x}\n"),
                                 "malformed projector spec '8192-x'"),
    "unknown method": (lambda t, b: _config(t, "loss: {method: moco}\n"),
                       "unknown method 'moco'; allowed: barlow-twins"),
    "--set of an unknown key": (lambda t, b: ["pretrain", "--preset", "digits-simclr", "--set", "data.resolutoin=64"],
                                "unknown key 'data.resolutoin'"),
    "--set of a searched parameter": (lambda t, b: ["tune", "--space", "smoke", "--set", "optim.base_lr=0.3"],
                                      "search space 'smoke' searches ['optim.base_lr']"),
    "unknown search space": (lambda t, b: ["tune", "--space", "nope"], "unknown search space 'nope'; available:"),
    "--retry-errored without --resume": (lambda t, b: ["tune", "--space", "smoke", "--retry-errored"],
                                         "--retry-errored applies to --resume CAMPAIGN"),
    "--extend without a count": (lambda t, b: ["tune", "--extend", "smoke-1"],
                                 "--extend CAMPAIGN needs --num-samples N"),
    "a time budget that is no duration": (lambda t, b: ["tune", "--space", "smoke", "--time-budget", "2 days"],
                                          "--time-budget '2 days' is not a duration; write e.g. 90s, 30m, 48h"),
    "stop of an unknown campaign": (lambda t, b: ["stop", "nope", "--runs-dir", str(t)], "no campaign 'nope'"),
    "status in an unknown format": (lambda t, b: ["status", "x", "--format", "xml"],
                                    "--format 'xml' is not one of table, csv, json"),
    "unknown gather": (lambda t, b: _config(t, "loss: {gather: averaged}\n"),
                       "loss.gather: Input should be 'summed' or 'divided'"),
    "unknown study": (lambda t, b: ["study", "paper-mnist"],
                      "unknown study 'paper-mnist' (did you mean 'paper_fmnist'"),
    "analyze: a folder that is no checkpoint": (lambda t, b: ["analyze", "--checkpoint", str(b)],
                                                "is not a dualtune checkpoint"),
    "empty range in a space": (lambda t, b: _space(t, {"optim.base_lr": {"distribution": "float", "low": 1.0,
                                                                         "high": 0.1}}),
                               "empty range: low=1.0 must be < high=0.1"),
    "unknown distribution": (lambda t, b: _space(t, {"optim.base_lr": {"distribution": "gaussian"}}),
                             "params.optim.base_lr"),
    "missing .beton": (lambda t, b: _user_data(b / "none.beton", b / "good.beton"), "none.beton' does not exist"),
    "image folder where a .beton belongs": (lambda t, b: _user_data(b, b / "good.beton"),
                                            "is a folder, not a .beton file; write an image folder to one with "
                                            "`dualtune data write"),
    "truncated .beton": (lambda t, b: _user_data(b / "cut.beton", b / "good.beton"),
                         "cut.beton' is corrupt or truncated"),
    ".beton with other fields": (lambda t, b: _user_data(b / "good.beton", b / "tabular.beton"),
                                 "missing ['image', 'label']"),
    "train and val of different classes": (lambda t, b: _user_data(b / "good.beton", b / "three.beton"),
                                           "were written with different classes (2 vs 3"),
    "user train data probed on the bundled digits": (
        lambda t, b: ["pretrain", "--preset", "digits-simclr", "--data", str(b / "good.beton")],
        "mix a bundled data set with another data set: give both as .beton files (data.train and data.test; "
        "pretrain's --data and --test-data)"),
    "image folder without images": (lambda t, b: _image_folder_without_images(t),
                                    "has class folders but no image files"),
    "unknown .beton write mode": (lambda t, b: _write_image_folder(t, "--write-mode", "png"),
                                  "write mode 'png' is not one of raw, jpg, proportion, smart"),
    "JPEG quality out of range": (lambda t, b: _write_image_folder(t, "--jpeg-quality", "900"),
                                  "JPEG quality 900 must be between 1 and 100"),
    "unwritable output folder": (lambda t, b: ["data", "write", "--source", str(_image_folder(t)), "--out",
                                               str(b / "a_file" / "x.beton")], "cannot write to the output folder"),
    "unwritable MLflow store": (lambda t, b: ["pretrain", "--preset", "digits-simclr", "--runs-dir",
                                              str(b / "a_file" / "runs")], "cannot open the MLflow store"),
}


def without_finalizer_reports(text: str) -> str:
    """``text`` less the interpreter's reports of an exception in a garbage-collected library
    object's finalizer ("Exception ignored in: <finalize object ...>", then its traceback, as
    numba's dispatcher finalizer sometimes raises): the interpreter prints them wherever a
    collection happens to run, and they are not the command's own output."""
    kept, skipping = [], False
    for line in text.splitlines():
        if line.startswith("Exception ignored in"):
            skipping = True
            continue
        if skipping and (line.startswith((" ", "Traceback")) or not line.strip()):
            continue
        if skipping and not line.startswith(("error:", "dualtune")):
            skipping = False  # the report's closing exception line
            continue
        skipping = False
        kept.append(line)
    return "\n".join(kept)


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_early_naming_the_value(case, betons, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default --runs-dir would be ./runs
    argv, message = CASES[case]
    argv = argv(tmp_path, betons)
    before = sorted(p.name for p in betons.iterdir()), {p.name: p.read_bytes() for p in betons.iterdir()
                                                        if p.is_file()}
    out = runner.invoke(app, argv)
    assert out.exit_code == 2, out.output
    assert message in " ".join(out.output.split()), out.output
    assert "Traceback" not in without_finalizer_reports(out.output)
    assert not Path("runs").exists() and not (tmp_path / "out.beton").exists()  # nothing started or written
    after = sorted(p.name for p in betons.iterdir()), {p.name: p.read_bytes() for p in betons.iterdir()
                                                       if p.is_file()}
    assert after == before  # nothing lost


def test_existing_output_is_kept_without_force(tmp_path):
    out = tmp_path / "kept.beton"
    out.write_bytes(b"precious")
    result = runner.invoke(app, ["data", "write", "--source", str(_image_folder(tmp_path)), "--out", str(out)])
    assert result.exit_code == 2 and "exists; pass --force" in result.output
    assert out.read_bytes() == b"precious"


def test_a_trial_the_cluster_cannot_place_is_refused_before_launch(ray_cluster, tmp_path):
    out = runner.invoke(app, ["pretrain", "--preset", "digits-simclr", "--workers", "64", "--runs-dir",
                              str(tmp_path / "runs")])
    assert out.exit_code == 2
    assert "one trial needs 64 CPU (resources.workers=64 x cpus_per_worker=1.0) but the cluster has 5" in " ".join(
        out.output.split())
    assert not (tmp_path / "runs" / "ray").exists() and not (tmp_path / "runs" / "data").exists()


def test_an_unreachable_cluster_address_is_a_clear_error(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = subprocess.run([sys.executable, "-m", "tuning.cli", "pretrain", "--preset", "digits-simclr", "--address",
                          f"127.0.0.1:{port}", "--runs-dir", str(tmp_path / "runs")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"cannot join the Ray cluster at '127.0.0.1:{port}'" in " ".join(out.stdout.split())
    assert "Traceback" not in without_finalizer_reports(out.stdout + out.stderr)


def test_finalizer_reports_are_left_out_and_nothing_else():
    report = ("Exception ignored in: <finalize object at 0x7f; dead>\nTraceback (most recent call last):\n"
              "  File \"x.py\", line 1, in f\n    for cres in overloads.values():\nKeyError: (Array(uint8),)\n")
    ours = "error: --extend CAMPAIGN needs --num-samples N\nTraceback (most recent call last):\n"
    assert without_finalizer_reports(report + ours) == ours.rstrip("\n")
