"""The explorers' pure update functions and their widgets, driven in-process.

This file runs twice in the suite: here with the installed ipywidgets (8.x), and from
tests/test_widgets_ipyw7.py in a subprocess with ipywidgets 7.7.1 (what Colab ships) first on
the path; there LLMCOURSE_EXPECT_IPYWIDGETS=7 makes the first test check the version.
"""

import base64
import math
import os

import matplotlib

matplotlib.use("Agg")

import ipywidgets  # noqa: E402
import matplotlib.colors as mcolors  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from llmcourse import sampling as S  # noqa: E402
from llmcourse.model import GPT, GPTConfig  # noqa: E402
from llmcourse.tokenizers import CharTokenizer  # noqa: E402
from llmcourse.viz.common import GREY, ORANGE, new_figure  # noqa: E402
from llmcourse.widgets import (SamplingExplorer, attention_explorer, attention_state,  # noqa: E402
                               attention_view, draw_sampling, format_sampling, ipywidgets_major,
                               sample_counts, sampling_explorer, sampling_state)

SEED_LOGITS = [2.0, 1.0, 0.5, 0.0]
SEED_LABELS = ["on", "the", "mat", "in"]
TEXT = "ROMEO: But soft, what light through yonder window breaks?\nJULIET: Ay me!\n"


def test_ipywidgets_major_is_the_expected_one():
    expected = os.environ.get("LLMCOURSE_EXPECT_IPYWIDGETS")
    assert ipywidgets_major() in (7, 8)
    if expected:
        assert ipywidgets.__version__.startswith(expected + "."), (
            f"expected ipywidgets {expected}.x, imported {ipywidgets.__version__} from {ipywidgets.__file__}")


@pytest.fixture(scope="module")
def tiny():
    """A randomly initialised 2-layer GPT and the char tokenizer of a short text (no files)."""
    tok = CharTokenizer.from_text(TEXT)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=2, n_head=2, n_embd=16))
    return model, tok


def seed_explorer(**kw):
    return sampling_explorer(SEED_LOGITS, SEED_LABELS, display=False, **kw)


# -- the pure update function --------------------------------------------------------------------

@pytest.mark.parametrize("temperature, expected", [
    (1.0, [0.58, 0.21, 0.13, 0.08]), (0.5, [0.83, 0.11, 0.04, 0.02]), (2.0, [0.41, 0.25, 0.19, 0.15])])
def test_sampling_state_reproduces_the_seed_temperature_table(temperature, expected):
    s = sampling_state(SEED_LOGITS, temperature=temperature)
    assert [round(p, 2) for p in s["probs"].tolist()] == expected  # the seed's two decimals
    assert s["kept"].all() and s["n_kept"] == 4 and s["kept_mass"] == pytest.approx(1.0)
    z = sum(math.exp(x / temperature) for x in SEED_LOGITS)
    ref_entropy = -sum(math.exp(x / temperature) / z * math.log(math.exp(x / temperature) / z)
                       for x in SEED_LOGITS)
    assert s["entropy"] == pytest.approx(ref_entropy, abs=1e-6)


def test_sampling_state_top_k_top_p_greedy_match_the_seed():
    k2 = sampling_state(SEED_LOGITS, top_k=2)
    assert [round(p, 2) for p in k2["probs"].tolist()] == [0.73, 0.27, 0.0, 0.0]
    assert k2["kept_mass"] == pytest.approx(0.79, abs=0.005)  # 0.58 + 0.21
    p7 = sampling_state(SEED_LOGITS, top_p=0.7)
    assert p7["kept"].tolist() == [True, True, False, False]
    assert [round(p, 2) for p in p7["probs"].tolist()] == [0.73, 0.27, 0.0, 0.0]
    assert [round(c, 2) for c in p7["cumulative"].tolist()] == [0.58, 0.79, 0.92, 1.0]
    p95 = sampling_state(SEED_LOGITS, top_p=0.95)
    assert p95["kept"].all()
    g = sampling_state(SEED_LOGITS, temperature=2.0, greedy=True)
    assert g["probs"].tolist() == [1.0, 0.0, 0.0, 0.0] and g["entropy"] == 0.0 and g["greedy"]
    assert sampling_state(SEED_LOGITS, temperature=0)["greedy"]  # T = 0 means greedy
    off = sampling_state(SEED_LOGITS, top_k=0, top_p=1.0)  # the sliders' "off" positions
    assert off["top_k"] is None and off["top_p"] is None and off["kept"].all()


def test_temperature_comes_before_the_nucleus():
    """T reshapes the distribution first, so it changes which tokens top-p keeps."""
    sharp = sampling_state(SEED_LOGITS, temperature=0.5, top_p=0.7)  # 0.83 alone passes 0.7
    assert sharp["kept"].tolist() == [True, False, False, False]
    flat = sampling_state(SEED_LOGITS, temperature=2.0, top_p=0.7)  # 0.41 + 0.25 + 0.19 >= 0.7
    assert flat["kept"].tolist() == [True, True, True, False]
    assert flat["kept_mass"] == pytest.approx(0.848, abs=0.002)


def test_sampling_state_uses_the_package_sampling_functions(monkeypatch):
    """The widgets must not re-implement the maths: a change in llmcourse.sampling shows up."""
    monkeypatch.setattr(S, "top_p_filter", lambda logits, p: logits)  # a "broken" nucleus filter
    assert sampling_state(SEED_LOGITS, top_p=0.7)["n_kept"] == 4


def test_sampling_state_orders_by_probability_and_explains_bad_input():
    s = sampling_state([0.0, 3.0, 1.0])
    assert s["order"].tolist() == [1, 2, 0]
    with pytest.raises(ValueError, match=r"1-D.*logits\[0, -1\]"):
        sampling_state(torch.zeros(1, 5, 4))
    with pytest.raises(ValueError, match="top_p must be in"):
        sampling_state(SEED_LOGITS, top_p=1.5 - 2)


def test_sample_counts_follow_the_distribution():
    g = torch.Generator().manual_seed(0)
    n = 20000
    for kw in ({}, {"temperature": 0.5}, {"top_k": 2}, {"top_p": 0.7}, {"temperature": 2.0, "top_p": 0.95}):
        p = sampling_state(SEED_LOGITS, **kw)["probs"]
        freq = sample_counts(SEED_LOGITS, n, generator=g, **kw).float() / n
        sigma = (p * (1 - p) / n).sqrt()
        assert torch.all((freq - p).abs() <= 5 * sigma + 1e-9), (kw, freq, p)  # 5 standard errors
        assert torch.all(freq[p == 0] == 0)  # removed tokens are never drawn
    assert sample_counts(SEED_LOGITS, 50, temperature=3.0, greedy=True).tolist() == [50, 0, 0, 0]
    with pytest.raises(ValueError, match="positive integer"):
        sample_counts(SEED_LOGITS, 0)


def test_draw_sampling_shows_kept_removed_cumulative_and_frequencies():
    s = sampling_state(SEED_LOGITS, top_p=0.7)
    fig = new_figure()
    ax = draw_sampling(fig.add_subplot(), s, SEED_LABELS, freqs=torch.tensor([0.7, 0.3, 0.0, 0.0]))
    main = ax.patches[:4]  # the probability bars, most likely first
    assert [round(b.get_height(), 2) for b in main] == [0.73, 0.27, 0.13, 0.08]  # removed: pre-filter p
    faces = [mcolors.to_hex(b.get_facecolor()) for b in main]
    assert faces[2] == faces[3] == GREY.lower() and GREY.lower() not in faces[:2]
    freq_bars = [b for b in ax.patches if mcolors.to_hex(b.get_facecolor()) == ORANGE.lower()]
    assert [round(b.get_height(), 2) for b in freq_bars] == [0.7, 0.3, 0.0, 0.0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert [round(y, 2) for y in lines["cumulative"].get_ydata()] == [0.58, 0.79, 0.92, 1.0]
    assert list(lines["top-p = 0.70"].get_ydata()) == [0.7, 0.7]
    assert "2 of 4 tokens kept" in ax.get_title()
    legend = ax.get_legend().get_title().get_text()
    assert "kept mass 0.79" in legend and "entropy 0.58 nats" in legend


# -- the sampling explorer, driven like a learner would --------------------------------------------

def test_moving_sliders_updates_state_and_picture():
    ex = seed_explorer()
    png0 = ex.png
    assert png0[:4] == b"\x89PNG"
    ex.temperature.value = 0.5  # what the frontend does when the slider is released
    assert [round(p, 2) for p in ex.state["probs"].tolist()] == [0.83, 0.11, 0.04, 0.02]
    png1 = ex.png
    assert png1 != png0
    ex.top_k.value = 2
    assert ex.state["n_kept"] == 2 and ex.png != png1
    ex.top_k.value = 0
    ex.temperature.value = 1.0
    ex.top_p.value = 0.7
    assert ex.state["kept"].tolist() == [True, True, False, False]
    assert "kept mass 0.792" in ex.info.value


def test_greedy_switch_disables_temperature():
    ex = seed_explorer()
    ex.greedy.value = True
    assert ex.state["probs"].tolist() == [1.0, 0.0, 0.0, 0.0] and ex.temperature.disabled
    ex.greedy.value = False
    assert not ex.temperature.disabled and ex.state["n_kept"] == 4


def test_sample_button_shows_frequencies_until_settings_change():
    ex = seed_explorer(samples=1000)
    png = ex.png
    ex.sample_button.click()  # same as a learner's click
    assert ex.freqs is not None and ex.n_drawn == 1000
    assert float(ex.freqs.sum()) == pytest.approx(1.0)
    assert abs(float(ex.freqs[0]) - 0.579) < 0.06
    assert ex.png != png and "sampled 1000 times" in ex.info.value
    assert "sampled" in ex.text().splitlines()[0]
    ex.temperature.value = 2.0  # the draws belonged to the old distribution
    assert ex.freqs is None


def test_interactive_output_wiring_works_in_process():
    """In a kernel the explorer uses ipywidgets.interactive_output; check that path too."""
    ex = SamplingExplorer(SEED_LOGITS, SEED_LABELS, use_interactive_output=True)
    assert ex.state is not None
    ex.temperature.value = 2.0
    assert [round(p, 2) for p in ex.state["probs"].tolist()] == [0.41, 0.25, 0.19, 0.15]
    assert isinstance(ex.out, ipywidgets.Output)


def test_explorer_input_errors_are_clear():
    with pytest.raises(ValueError, match="either logits"):
        sampling_explorer(display=False)
    with pytest.raises(ValueError, match="labels has 2 entries but logits has 4"):
        sampling_explorer(SEED_LOGITS, ["a", "b"], display=False)


def test_display_publishes_widget_png_and_text_once_per_cell(monkeypatch):
    import IPython
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append((obj, raw)))

    class Shell:
        execution_count = 5

    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell())
    ex = seed_explorer()
    ex._ipython_display_()
    ex._ipython_display_()  # e.g. the function displayed it and it is also the cell's result
    assert len(shown) == 1
    bundle, raw = shown[0]
    assert raw is True
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == ex.widget.model_id
    assert base64.b64decode(bundle["image/png"]) == ex.png  # the static fallback is the picture
    assert bundle["text/plain"].splitlines()[0].split() == ["token", "before", "kept", "p"]
    Shell.execution_count = 6  # a later cell may show it again
    ex._ipython_display_()
    assert len(shown) == 2


def test_one_kept_token_has_entropy_zero_not_minus_zero():
    for state in (sampling_state(SEED_LOGITS, greedy=True), sampling_state(SEED_LOGITS, top_k=1)):
        assert math.copysign(1.0, state["entropy"]) == 1.0  # -0.0 would print as "-0.000"
        assert "entropy 0.000 nats" in format_sampling(state, SEED_LABELS)


def test_show_prints_the_table_outside_a_notebook(capsys):
    sampling_explorer(SEED_LOGITS, SEED_LABELS)
    out = capsys.readouterr().out
    assert "on" in out and "0.579" in out and "entropy 1.110 nats" in out


# -- with a model --------------------------------------------------------------------------------

def test_model_mode_shows_the_models_next_token_distribution(tiny):
    model, tok = tiny
    ex = sampling_explorer(model=model, tokenizer=tok, prompt="ROMEO:", display=False)
    with torch.no_grad():
        logits = model(torch.tensor([tok.encode("ROMEO:")]))[0, -1]
    torch.testing.assert_close(ex.state["probs"], S.probabilities(logits), atol=1e-6, rtol=0)
    assert ex.labels[tok.encode(" ")[0]] == "␣"
    before = ex.state["probs"].clone()
    ex.prompt.value = "JULIET:"
    assert not torch.allclose(ex.state["probs"], before)
    ex.prompt.value = "JULIET: Z"  # 'Z' is not in the vocabulary
    assert "not in this tokenizer's vocabulary" in ex.error and "Cannot update" in ex.info.value
    ex.prompt.value = ""
    assert "prompt is empty" in ex.error
    with pytest.raises(KeyError):
        sampling_explorer(model=model, tokenizer=tok, prompt="Zebra", display=False)


def test_generate_uses_the_chosen_settings(tiny):
    model, tok = tiny
    ex = sampling_explorer(model=model, tokenizer=tok, prompt="ROMEO:", display=False)
    ex.greedy.value = True
    text = ex.generate(20)
    ref = S.complete(model, tok, "ROMEO:", 20, temperature=0)
    assert "ROMEO:" + text == ref and len(text) == 20
    ex.greedy.value = False
    ex.top_k.value = 1  # top-k = 1 is greedy too
    assert ex.generate(20) == text
    ex.top_k.value = 0
    ex.temperature.value = 3.0
    ex.length.value = 30
    ex.generate_button.click()
    assert len(ex.generated_text) == 30 and ex.generated_text != text[:30]
    assert "<b>" in ex.generated.value


# -- the attention explorer ----------------------------------------------------------------------

def test_attention_state_and_view(tiny):
    model, tok = tiny
    st = attention_state(model, tok, "ROMEO: But")
    T = len("ROMEO: But")
    assert st["maps"].shape == (2, 2, T, T) and st["tokens"][6] == "␣"
    direct = model.attention_maps(torch.tensor([tok.encode("ROMEO: But")]))  # (L, B=1, H, T, T)
    torch.testing.assert_close(st["maps"], direct[:, 0])
    torch.testing.assert_close(st["maps"].sum(-1), torch.ones(2, 2, T))
    assert torch.all(st["maps"].triu(1) == 0)  # causal: nobody looks ahead
    v = attention_view(st, layer=1, head=1, query=4, k=3)
    row = st["maps"][1, 1, 4]
    assert [p for p, _, _ in v["top"]] == row.argsort(descending=True)[:3].tolist()
    assert all(p <= 4 for p, _, _ in v["top"]) and v["top"][0][1] == st["tokens"][v["top"][0][0]]
    torch.testing.assert_close(attention_view(st, 0, "mean", 3)["weights"], st["maps"][0].mean(0))
    with pytest.raises(ValueError, match="layer must be 0..1"):
        attention_view(st, 2, 0, 0)
    with pytest.raises(ValueError, match="query must be a position 0..9"):
        attention_view(st, 0, 0, 10)
    long = attention_state(model, tok, TEXT, max_tokens=100)
    assert len(long["ids"]) == 32 and long["dropped"] == len(TEXT) - 32  # cropped to block_size


def test_attention_explorer_controls(tiny):
    model, tok = tiny
    ex = attention_explorer(model, tok, "ROMEO: But soft", display=False)
    assert ex.query.value == ex.query.max == 14 and ex.view["query"] == 14
    pngs = {ex.png}
    ex.layer.value = 1
    ex.head.value = 1
    ex.query.value = 3
    pngs.add(ex.png)
    ex.head.value = "mean"
    pngs.add(ex.png)
    assert len(pngs) == 3 and ex.view == {**ex.view, "layer": 1, "head": "mean", "query": 3}
    ex.prompt.value = "JULIET: Ay"  # new prompt: the query moves to its last token
    assert ex.query.max == 9 and ex.query.value == 9 and ex.view["query"] == 9
    assert ex.state["tokens"][0] == "J" and "query y @9" in ex.info.value
    ex.prompt.value = "JULIET: Zz"
    assert "not in this tokenizer's vocabulary" in ex.error
    assert ex.text().splitlines()[0].startswith("layer 1, mean of heads: query y @9")


def test_with_the_pretrained_model():
    pretrained = pytest.importorskip("llmcourse.pretrained", reason="llmcourse.pretrained not built yet")
    try:
        model, tok = pretrained.load("shakespeare-char")
    except FileNotFoundError as e:  # pragma: no cover - depends on the shipped checkpoint
        pytest.skip(f"the shipped checkpoint is missing: {e}")
    ex = sampling_explorer(model=model, tokenizer=tok, prompt="ROMEO:\nWhat say", display=False)
    assert ex.state["n_kept"] == model.config.vocab_size
    ex.top_p.value = 0.9
    # a trained model is confident: the nucleus is a small part of the vocabulary
    assert ex.state["n_kept"] < model.config.vocab_size // 2
    att = attention_explorer(model, tok, "ROMEO: But soft", display=False)
    assert att.state["maps"].shape[:2] == (model.config.n_layer, model.config.n_head)
