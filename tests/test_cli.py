"""``python -m llmcourse train`` and ``generate``: tiny runs, real output, clear errors (lesson 20)."""

import os
import subprocess
import sys

import pytest
import torch

from llmcourse.__main__ import main
from llmcourse.pretrained import load_file
from llmcourse.training.cli import cli_generate, cli_train
from torch_threads import torch_threads

ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "tiny"
    with torch_threads(1):
        assert cli_train(["--preset", "tiny", "--max-iters", "20", "--out", str(out), "--no-progress",
                          "--export", str(out.parent / "tiny-export.pt")]) == 0
    return out


def error_of(fn, argv, capsys) -> str:
    with pytest.raises(SystemExit) as e:
        fn(argv)
    assert e.value.code == 2
    return capsys.readouterr().err


def test_help_texts(capsys):
    for fn, words in ((cli_train, ["--preset", "--max-time", "--resume", "--out", "--optimizer", "shakespeare-char",
                                  "tiny"]),
                      (cli_generate, ["--checkpoint", "--prompt", "--temperature", "--top-p", "--tokens"])):
        with pytest.raises(SystemExit) as e:
            fn(["--help"])
        assert e.value.code == 0
        out = capsys.readouterr().out
        assert all(w in out for w in words), out


def test_train_writes_a_checkpoint_and_export(run_dir):
    state = torch.load(run_dir / "ckpt.pt", weights_only=True)
    assert state["step"] == 20 and state["train_config"]["max_iters"] == 20
    model, tok = load_file(run_dir.parent / "tiny-export.pt")
    assert not model.training and tok.vocab_size == 65
    ref, _ = load_file(run_dir)
    for (k, a), b in zip(model.state_dict().items(), ref.state_dict().values()):
        torch.testing.assert_close(a, b, atol=2e-3, rtol=1e-2, msg=k)  # float16 storage
    meta = torch.load(run_dir.parent / "tiny-export.pt", weights_only=True)["meta"]
    assert meta["command"].startswith("python -m llmcourse train --preset tiny")


def test_generate_from_the_run(run_dir, capsys):
    assert cli_generate(["--checkpoint", str(run_dir), "--prompt", "ROMEO:", "--tokens", "40"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("ROMEO:") and len(text.rstrip("\n")) >= 6 + 30  # 40 new characters
    cli_generate(["--checkpoint", str(run_dir), "--tokens", "40", "--seed", "3"])
    again = capsys.readouterr().out
    cli_generate(["--checkpoint", str(run_dir), "--tokens", "40", "--seed", "3"])
    assert capsys.readouterr().out == again  # seeded


def test_generate_defaults_to_the_shipped_model(capsys):
    assert cli_generate(["--tokens", "60", "--temperature", "0"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("ROMEO:") and len(text) > 60


def test_bad_train_arguments_are_explained(capsys, tmp_path):
    err = error_of(cli_train, ["--preset", "gpt5"], capsys)
    assert "unknown preset 'gpt5'" in err and "shakespeare-char" in err and "tiny" in err
    assert "--max-time must be a positive number" in error_of(cli_train, ["--max-time", "-5"], capsys)
    assert "--max-time must be a positive number" in error_of(cli_train, ["--max-time", "nan"], capsys)
    assert "--batch-size must be a positive integer" in error_of(cli_train, ["--batch-size", "0"], capsys)
    err = error_of(cli_train, ["--resume", "--out", str(tmp_path / "missing")], capsys)
    assert "no checkpoint" in err and "without --resume" in err
    assert "invalid float value" in error_of(cli_train, ["--max-time", "soon"], capsys)
    err = error_of(cli_train, ["--optimizer", "sgd"], capsys)
    assert "invalid choice: 'sgd'" in err and "adamw" in err and "muon" in err
    err = error_of(cli_train, ["--precision", "fp8"], capsys)
    assert "invalid choice: 'fp8'" in err and "bf16" in err and "fp16" in err and "auto" in err


def test_train_with_muon_checkpoints_and_resumes(tmp_path, capsys):
    out = tmp_path / "muon"
    argv = ["--preset", "tiny", "--optimizer", "muon", "--eval-interval", "3", "--out", str(out), "--no-progress"]
    with torch_threads(1):
        assert cli_train(argv + ["--max-iters", "6"]) == 0
        state = torch.load(out / "ckpt.pt", weights_only=True)  # Muon's state loads without pickle code
        assert state["train_config"]["optimizer"] == "muon" and set(state["optimizer"]) == {"muon", "adamw"}
        assert cli_train(["--preset", "tiny", "--out", str(out), "--resume", "--max-iters", "9", "--no-progress"]) == 0
    state = torch.load(out / "ckpt.pt", weights_only=True)
    assert state["step"] == 9 and state["train_config"]["optimizer"] == "muon"


def test_bad_generate_arguments_are_explained(capsys, tmp_path, run_dir):
    err = error_of(cli_generate, ["--checkpoint", str(tmp_path / "nowhere")], capsys)
    assert "no checkpoint at" in err and "shakespeare-char" in err
    err = error_of(cli_generate, ["--checkpoint", str(run_dir), "--prompt", "ROMEO€"], capsys)
    assert "'€'" in err and "vocabulary" in err
    assert "--top-p must be in (0, 1]" in error_of(cli_generate, ["--top-p", "1.5"], capsys)
    assert "--tokens must be >= 0" in error_of(cli_generate, ["--tokens", "-1"], capsys)
    assert "--temperature must be" in error_of(cli_generate, ["--temperature", "-1"], capsys)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert "not a readable llmcourse checkpoint" in error_of(
        cli_generate, ["--checkpoint", str(tmp_path / "junk.pt")], capsys)


@pytest.mark.slow
def test_module_entry_point_end_to_end(tmp_path):
    """The real command line, in a fresh interpreter."""
    out = tmp_path / "run"
    train = subprocess.run([sys.executable, "-m", "llmcourse", "train", "--preset", "tiny", "--max-iters", "10",
                            "--out", str(out), "--no-progress"], capture_output=True, text=True,
                           env=ONE_THREAD, timeout=120)
    assert train.returncode == 0, train.stderr
    assert "done: 10 steps" in train.stdout
    gen = subprocess.run([sys.executable, "-m", "llmcourse", "generate", "--checkpoint", str(out),
                          "--tokens", "20"], capture_output=True, text=True, env=ONE_THREAD, timeout=120)
    assert gen.returncode == 0, gen.stderr
    assert gen.stdout.startswith("ROMEO:") and len(gen.stdout.rstrip("\n")) >= 6 + 15
    bad = subprocess.run([sys.executable, "-m", "llmcourse", "train", "--preset", "nope"],
                         capture_output=True, text=True, env=ONE_THREAD, timeout=120)
    assert bad.returncode == 2 and "unknown preset" in bad.stderr


# ---------------------------------------------------------------- bad input: one line, before any work
# The command line's own main(), in this process, on a machine without a GPU; the real entry point
# in a fresh interpreter is test_module_entry_point_end_to_end's.
@pytest.fixture
def one_line_error(capsys, monkeypatch):
    """``one_line_error(args)``: run ``python -m llmcourse ARGS``; expect exit status 2, a single
    line on stderr, no traceback, and no training started; returns the line."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a CPU-only machine, as CI's

    def run(args):
        try:
            code = main(args)
        except SystemExit as e:  # argparse's errors
            code = e.code
        out, err = capsys.readouterr()
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1, (code, err)
        assert "Traceback" not in err and not out.strip().startswith("training"), out
        return lines[0]

    return run


def unwritable_dir(tmp_path):
    """A directory no one can write into: a read-only folder, or (as root, whom permissions do not
    stop) a folder of the read-only /proc file system."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        if not sys.platform.startswith("linux"):
            pytest.skip("running as root without /proc: no read-only directory to try")
        return "/proc/llmcourse-run"
    ro = tmp_path / "read-only"
    ro.mkdir()
    ro.chmod(0o555)
    return str(ro / "run")


def test_train_out_that_cannot_be_written_is_refused_at_once(tmp_path, one_line_error):
    out = unwritable_dir(tmp_path)
    line = one_line_error(["train", "--preset", "tiny", "--max-iters", "5", "--out", out, "--device", "cpu"])
    assert "cannot write a checkpoint under" in line and "choose a directory you can write to" in line
    assert not os.path.exists(out)


def test_train_out_on_an_existing_file_is_refused_and_the_file_kept(tmp_path, one_line_error):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    line = one_line_error(["train", "--preset", "tiny", "--max-iters", "5", "--out", str(notes), "--device", "cpu"])
    assert "is a file, but a run needs a directory" in line
    assert notes.read_text() == "my notes\n" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("command", [["train", "--preset", "tiny", "--max-iters", "5"], ["generate"]])
def test_device_cuda_without_a_gpu_is_one_line(tmp_path, command, one_line_error):
    out = tmp_path / "never"
    extra = ["--out", str(out)] if command[0] == "train" else []
    line = one_line_error(command + extra + ["--device", "cuda"])
    assert "device 'cuda' is not available" in line and "'cpu'" in line
    assert not out.exists()
    assert "unknown device 'gpu'" in one_line_error(command + extra + ["--device", "gpu"])


def test_generate_on_a_garbage_file_says_so_in_one_line(tmp_path, one_line_error):
    junk = tmp_path / "garbage.pt"
    junk.write_bytes(b"this is not a checkpoint" * 10)
    line = one_line_error(["generate", "--checkpoint", str(junk)])
    assert "is not a readable llmcourse checkpoint" in line and "train --out DIR" in line
    assert "weights_only" not in line and len(line) < 400  # not torch's own paragraphs
    torch.save([1, 2, 3], tmp_path / "list.pt")  # a real torch file, but no model in it
    assert "not an llmcourse model checkpoint" in one_line_error(["generate", "--checkpoint", str(tmp_path / "list.pt")])
