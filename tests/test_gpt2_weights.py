"""Loading GPT-2's own weights into the course's GPT (``llmcourse.pretrained.load_gpt2``, lesson 17).

Nothing is downloaded: a small random GPT-2 saved with ``save_pretrained`` stands in for
OpenAI's checkpoint, and the offline answers are checked with the network check replaced.
Tolerance: float32 logits equal Hugging Face's to 1e-5."""

import sys

import pytest
import torch

transformers = pytest.importorskip("transformers")
from transformers import GPT2Config, GPT2LMHeadModel  # noqa: E402

from llmcourse import hf, pretrained  # noqa: E402
from llmcourse.pretrained import GPT2Unavailable, load_gpt2  # noqa: E402
from llmcourse.model import GPT  # noqa: E402
from llmcourse.sampling import generate  # noqa: E402

NOT_CACHED = "llmcourse-tests/no-such-gpt2"  # a Hub name that is never in the cache


@pytest.fixture(scope="module")
def saved_gpt2(tmp_path_factory):
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=97, n_positions=64))
    folder = tmp_path_factory.mktemp("gpt2-small-random")
    model.save_pretrained(folder)
    return str(folder)


def test_a_saved_gpt2_loads_into_our_gpt_with_the_same_logits(saved_gpt2):
    ours, theirs, tokenizer = load_gpt2(saved_gpt2)
    assert isinstance(ours, GPT) and not ours.training and not theirs.training
    assert tokenizer is None  # the folder holds weights only
    assert (ours.config.n_layer, ours.config.n_embd, ours.config.vocab_size, ours.config.block_size) == (2, 32, 97, 64)
    idx = torch.randint(0, 97, (2, 20), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        diff = (ours(idx) - theirs(idx).logits).abs().max().item()
    assert diff < 1e-5
    out = generate(ours, idx[:1, :5], max_new_tokens=4, temperature=0)  # the lesson-18 sampler runs on it
    assert out.shape == (1, 9)


def test_a_saved_tokenizer_comes_with_the_model(saved_gpt2, tmp_path):
    import json
    import shutil

    from transformers import GPT2Tokenizer

    folder = shutil.copytree(saved_gpt2, tmp_path / "with-tokenizer")
    letters = "abcdefghijklmnopqrstuvwxyz"
    (tmp_path / "vocab.json").write_text(json.dumps({c: i for i, c in enumerate(letters)}))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    GPT2Tokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt")).save_pretrained(folder)
    _, _, tokenizer = load_gpt2(str(folder))
    assert tokenizer.encode("cab") == [2, 0, 1] and tokenizer.decode([2, 0, 1]) == "cab"


def test_not_cached_and_downloads_off_says_so_in_one_line(monkeypatch):
    monkeypatch.setattr(hf, "_hub_reachable", lambda timeout: pytest.fail("must not touch the network"))
    with pytest.raises(GPT2Unavailable, match="not in the local Hugging Face cache") as err:
        load_gpt2(NOT_CACHED, allow_download=False)
    assert "\n" not in str(err.value)


def test_unreachable_hub_says_so_in_one_line(monkeypatch):
    monkeypatch.setattr(hf, "_hub_reachable", lambda timeout: False)
    with pytest.raises(GPT2Unavailable, match="Hugging Face Hub is not reachable") as err:
        load_gpt2(NOT_CACHED)
    assert "\n" not in str(err.value)


def test_offline_environment_is_unreachable(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hf._hub_reachable(0.1) is False


def test_a_folder_without_a_model_is_explained(tmp_path):
    with pytest.raises(GPT2Unavailable, match="holds no model saved by save_pretrained") as err:
        load_gpt2(str(tmp_path))
    assert "\n" not in str(err.value)


def test_without_transformers_says_so_in_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers -> ImportError
    with pytest.raises(GPT2Unavailable, match="transformers is not installed") as err:
        load_gpt2("gpt2")
    assert "\n" not in str(err.value)


# -- lesson 17's optional section ----------------------------------------------------------------
LESSON17_CELLS = ("17-28", "17-30", "17-32")  # load, compare the logits, generate


def _run_cells(notebook, cell_ids):
    """Run the listed cells of a lesson, in order, as fast mode (the test suite's) would."""
    from pathlib import Path

    import nbformat

    nb = nbformat.read(Path(__file__).parent.parent / "notebooks" / notebook, as_version=4)
    cells = {c.get("id"): c.source for c in nb.cells}
    namespace = {"torch": torch, "FAST": True}
    for cell_id in cell_ids:
        exec(compile(cells[cell_id], f"{notebook} cell {cell_id}", "exec"), namespace)
    return namespace


def _run_lesson17_section():
    return _run_cells("17_output_layer.ipynb", LESSON17_CELLS)


def test_lesson17_section_without_transformers_prints_one_line_and_moves_on(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "transformers", None)
    assert _run_lesson17_section()["gpt2"] is None
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("GPT-2 skipped: transformers is not installed")


def test_lesson17_section_offline_prints_one_line_and_moves_on(monkeypatch, capsys):
    monkeypatch.setattr(hf, "_hub_reachable", lambda timeout: pytest.fail("fast mode must not touch the network"))
    real = pretrained.load_gpt2  # the real loader, asked for a name no cache holds (a machine may have gpt2 cached)
    monkeypatch.setattr(pretrained, "load_gpt2", lambda name, allow_download: real(NOT_CACHED, allow_download=allow_download))
    _run_lesson17_section()
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("GPT-2 skipped:")


class _LetterTokenizer:  # stands in for GPT-2's tokenizer: one id per character
    def encode(self, text):
        return [ord(c) % 97 for c in text]

    def decode(self, ids):
        return "".join(chr(ord("a") + i % 26) for i in ids)


def test_lesson17_section_with_weights_compares_and_generates(monkeypatch, capsys, saved_gpt2):
    ours, theirs, _ = load_gpt2(saved_gpt2)
    monkeypatch.setattr(pretrained, "load_gpt2", lambda name, allow_download: (ours, theirs, _LetterTokenizer()))
    namespace = _run_lesson17_section()
    out = capsys.readouterr().out
    assert "OpenAI's GPT-2 in our GPT:" in out and "max |our logits - Hugging Face's|" in out
    assert namespace["out"].shape == (1, len("The cat sat on the") + 40)


# -- GPT-2's vocabulary through tiktoken (lesson 2) ----------------------------------------------
def test_gpt2_vocabulary_not_cached_and_downloads_off_says_so(monkeypatch, tmp_path):
    pytest.importorskip("tiktoken")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))  # an empty cache
    monkeypatch.setattr(hf, "_reachable", lambda address, timeout: pytest.fail("must not touch the network"))
    with pytest.raises(GPT2Unavailable, match="not in tiktoken's cache") as err:
        hf.load_gpt2_encoding(allow_download=False)
    assert "\n" not in str(err.value)


def test_gpt2_vocabulary_unreachable_says_so(monkeypatch, tmp_path):
    pytest.importorskip("tiktoken")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(hf, "_reachable", lambda address, timeout: False)
    with pytest.raises(GPT2Unavailable, match="not reachable"):
        hf.load_gpt2_encoding()


def test_gpt2_vocabulary_without_tiktoken_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "tiktoken", None)
    with pytest.raises(GPT2Unavailable, match="tiktoken is not installed"):
        hf.load_gpt2_encoding()


def test_tiktoken_cache_rule(monkeypatch, tmp_path):
    import hashlib

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    assert not hf._tiktoken_cached(hf.GPT2_VOCAB_FILES)
    for url in hf.GPT2_VOCAB_FILES:
        (tmp_path / hashlib.sha1(url.encode()).hexdigest()).write_bytes(b"")
    assert hf._tiktoken_cached(hf.GPT2_VOCAB_FILES)


def test_lesson2_check_offline_prints_one_line(monkeypatch, tmp_path, capsys):
    pytest.importorskip("tiktoken")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(hf, "_reachable", lambda address, timeout: pytest.fail("fast mode must not touch the network"))
    _run_cells("02_tokenization.ipynb", ["02-26a"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("GPT-2's ids not checked:")


def test_lesson2_check_compares_id_by_id(monkeypatch, capsys):
    class Encoding:  # stands in for tiktoken's GPT-2 encoding (made-up ids for " cat" and " sat")
        def encode(self, text):
            return [464, 11, 12, 319]

        def decode(self, ids):
            return {464: "The", 11: " cat", 12: " sat", 319: " on"}[ids[0]]

    monkeypatch.setattr(hf, "load_gpt2_encoding", lambda allow_download: Encoding())
    _run_cells("02_tokenization.ipynb", ["02-26a"])
    out = capsys.readouterr().out
    assert "'The'    GPT-2   464, article   464: match" in out
    assert "' cat'   GPT-2    11, article  2368: differ" in out
