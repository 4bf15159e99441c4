"""The figures of llmcourse.viz (figures, loss, common): what each figure draws, sizes, colours, PCA maths."""

import struct

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from llmcourse import viz  # noqa: E402
from llmcourse.embedding import sinusoidal_encoding  # noqa: E402
from llmcourse.viz.common import GREY, new_figure  # noqa: E402
from llmcourse.viz.loss import LiveLossPlot, loss_series  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", png[16:24])


def test_figures_are_small():
    fig = new_figure(7, 3, dpi=300)  # asking for more than 100 dpi is capped
    assert fig.dpi == 100
    w, h = png_size(viz.figure_to_png(new_figure(7, 3.4)))
    assert (w, h) == (560, 272)  # 7 x 3.4 inches at 80 dpi


# -- heatmaps ------------------------------------------------------------------------------------

def test_heatmap_labels_values_and_colour_map():
    m = [[0.27, 0.27, 0.45], [0.1, 0.6, 0.3]]
    ax = viz.heatmap(m, ["q0", "q1"], ["a", "b", "c"], title="t")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["q0", "q1"]
    assert [t.get_text() for t in ax.texts] == ["0.27", "0.27", "0.45", "0.10", "0.60", "0.30"]
    im = ax.images[0]
    assert im.get_cmap().name.startswith("viridis")
    np.testing.assert_allclose(np.asarray(im.get_array()), m)


def test_heatmap_rejects_wrong_label_count():
    with pytest.raises(ValueError, match="row_labels has 3 entries but the matrix has 2 rows"):
        viz.heatmap(np.zeros((2, 3)), ["a", "b", "c"], ["x", "y", "z"])


def test_heatmap_thins_labels_of_large_matrices():
    ax = viz.heatmap(np.random.rand(100, 100))
    assert 10 <= len(ax.get_xticks()) <= 50 and 10 <= len(ax.get_yticks()) <= 50
    small = viz.heatmap(np.random.rand(12, 12), list("abcdefghijkl"), list("abcdefghijkl"))
    assert len(small.get_xticks()) == 12 and len(small.get_yticks()) == 12  # all fit: all shown
    assert len(ax.texts) == 0  # no numbers written into 10,000 cells


def test_attention_heatmap_masks_the_future_and_outlines_the_query():
    w = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.27, 0.27, 0.46]])
    ax = viz.attention_heatmap(w, ["the", "cat", "sat"], query=1)
    arr = ax.images[0].get_array()
    assert arr.mask.tolist() == [[False, True, True], [False, False, True], [False, False, False]]
    rects = [p for p in ax.patches if isinstance(p, matplotlib.patches.Rectangle)]
    assert len(rects) == 1 and rects[0].get_y() == pytest.approx(0.5)  # row 1 spans 0.5..1.5
    # a non-causal map (e.g. an encoder) is drawn in full
    full = viz.attention_heatmap(torch.full((3, 3), 1 / 3), ["a", "b", "c"])
    assert not np.any(full.images[0].get_array().mask)


def test_attention_heatmap_errors():
    with pytest.raises(ValueError, match=r"square \(T, T\).*maps\[layer, 0, head\]"):
        viz.attention_heatmap(torch.rand(2, 3, 3))
    with pytest.raises(ValueError, match="query must be a position 0..2"):
        viz.attention_heatmap(torch.eye(3), query=3)


def test_positional_heatmap_is_centred_on_zero():
    pe = sinusoidal_encoding(32, 16)
    ax = viz.positional_heatmap(pe)
    lo, hi = ax.images[0].get_clim()
    assert lo == pytest.approx(-hi) and hi == pytest.approx(float(pe.abs().max()))
    np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), pe.numpy(), atol=1e-6)


# -- PCA and embeddings --------------------------------------------------------------------------

def test_pca_matches_the_covariance_eigenvectors():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 6)) @ rng.normal(size=(6, 6)) + 3.0  # correlated, off-centre
    coords, share = viz.pca_2d(X, return_variance=True)
    Xc = X - X.mean(0)
    evals, evecs = np.linalg.eigh(np.cov(Xc, rowvar=False, bias=True))
    evals, evecs = evals[::-1], evecs[:, ::-1]  # largest first
    ref = Xc @ evecs[:, :2]
    for i in range(2):  # equal up to the sign of each axis
        sign = np.sign(ref[:, i] @ coords[:, i])
        np.testing.assert_allclose(coords[:, i], sign * ref[:, i], atol=1e-8)
    np.testing.assert_allclose(share, evals[:2] / evals.sum(), atol=1e-10)
    assert coords[:, 0].var() >= coords[:, 1].var()


def test_pca_is_repeatable_and_handles_edge_cases():
    X = torch.randn(20, 5)
    a, b = viz.pca_2d(X), viz.pca_2d(-X.flip(1).flip(1))
    np.testing.assert_allclose(np.abs(a), np.abs(b), atol=1e-5)
    np.testing.assert_allclose(viz.pca_2d(X), viz.pca_2d(X.clone()), atol=0)  # same sign every time
    one_d = viz.pca_2d([[1.0], [2.0], [4.0]])
    assert one_d.shape == (3, 2) and np.all(one_d[:, 1] == 0)
    with pytest.raises(ValueError, match="at least 2 rows"):
        viz.pca_2d([[1.0, 2.0]])


def test_embedding_scatter_groups_labels_and_axis_titles():
    E = np.random.default_rng(1).normal(size=(8, 16))
    groups = ["vowel"] * 3 + ["digit"] * 3 + ["punct"] * 2
    ax = viz.embedding_scatter(E, list("aei123.,"), groups=groups)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["vowel", "digit", "punct"]
    assert [t.get_text() for t in ax.texts] == list("aei123.,")
    assert ax.get_xlabel().startswith("PC1 (") and "% of variance" in ax.get_xlabel()
    with pytest.raises(ValueError, match="labels has 2 entries but X has 8 rows"):
        viz.embedding_scatter(E, ["a", "b"])


# -- probability bars ----------------------------------------------------------------------------

def test_probability_bars_sorted_cut_and_removed_grey():
    p = [0.08, 0.58, 0.13, 0.21]
    ax = viz.probability_bars(p, ["in", "on", "mat", "the"], kept=[False, True, False, True], top=3)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["on", "the", "mat"]
    bars = ax.patches
    assert [round(b.get_height(), 2) for b in bars] == [0.58, 0.21, 0.13]
    assert mcolors.to_hex(bars[2].get_facecolor()) == GREY.lower() and bars[2].get_hatch() == "//"
    assert mcolors.to_hex(bars[0].get_facecolor()) != GREY.lower() and not bars[0].get_hatch()
    unsorted = viz.probability_bars(p, ["in", "on", "mat", "the"], sort=False)
    assert [t.get_text() for t in unsorted.get_xticklabels()] == ["in", "on", "mat", "the"]
    with pytest.raises(ValueError, match="labels has 2 entries but probs has 4"):
        viz.probability_bars(p, ["a", "b"])


def test_token_labels_make_whitespace_visible():
    assert viz.token_label("a b\n") == "a␣b↵"
    assert viz.token_label("\x00") == "\\x00"


# -- loss curves ---------------------------------------------------------------------------------

def test_loss_series_reads_every_history_format():
    as_list = loss_series([4.0, 3.0, 2.5])
    assert as_list["train"][1].tolist() == [4.0, 3.0, 2.5]
    as_dict = loss_series({"step": [0, 10, 20], "train": [4, 3, 2], "val": [None, 3.2, float("nan")],
                           "lr": [1e-3, 1e-3, 1e-3]})
    assert set(as_dict) == {"train", "val"}
    assert as_dict["val"][0].tolist() == [10.0] and as_dict["val"][1].tolist() == [3.2]
    records = loss_series([{"step": 5, "train_loss": torch.tensor(2.0), "tokens_per_s": 9e3},
                           {"iter": 7, "loss": 1.5, "val_loss": 1.8}])
    assert records["train"][0].tolist() == [5.0] and records["val"][1].tolist() == [1.8]
    assert records["loss"][0].tolist() == [7.0]  # the batch loss is its own curve
    with pytest.raises(ValueError, match="has 2 values but the steps have 3"):
        loss_series({"step": [0, 1, 2], "train": [1.0, 2.0]})


def test_loss_curve_draws_one_line_per_series_and_reference():
    ax = viz.loss_curve({"step": [0, 1, 2], "train": [4.2, 3.0, 2.5], "val": [4.3, 3.3, 2.9]},
                        reference=np.log(65))
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["train", "val", "ln(vocab): a uniform guess"]
    assert ax.get_lines()[1].get_ydata().tolist() == [4.3, 3.3, 2.9]
    smooth = viz.loss_curve(list(np.linspace(4, 2, 50) + np.random.rand(50)), smooth=0.1)
    assert [line.get_label() for line in smooth.get_lines()][-1] == "train (smoothed)"


class FakeHandle:
    def __init__(self, obj):
        self.shown = [obj]

    def update(self, obj):
        self.shown.append(obj)


def test_live_loss_plot_updates_one_output_in_place(monkeypatch):
    import IPython.display

    handles = []

    def fake_display(obj, display_id=None):
        assert display_id is True, "the live plot must ask for a display handle to update in place"
        handles.append(FakeHandle(obj))
        return handles[-1]

    monkeypatch.setattr(IPython.display, "display", fake_display)
    live = LiveLossPlot(mode="notebook", min_interval=0)
    for step, loss in enumerate([4.0, 3.5, 3.0]):
        live.update({"step": step, "train_loss": loss, "lr": 1e-3})
    assert len(handles) == 1, "one output, replaced in place (not a new figure per update)"
    shown = handles[0].shown
    assert len(shown) == 3 and live.draws == 3
    assert shown[0].data != shown[-1].data  # the picture changed
    assert [r["train_loss"] for r in live.history] == [4.0, 3.5, 3.0]


def test_live_loss_plot_throttles_and_draws_the_final_state(monkeypatch):
    import IPython.display

    handles = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, display_id=None: handles.append(
        FakeHandle(obj)) or handles[-1])
    live = LiveLossPlot(mode="notebook", min_interval=3600)
    for step in range(20):
        live(step=step, loss=4.0 - 0.1 * step)
    assert live.draws == 1  # only the first point was drawn within the interval
    live.close()
    assert live.draws == 2 and len(handles[0].shown) == 2
    live.close()  # nothing new: no redraw
    assert live.draws == 2


def test_live_loss_plot_prints_in_a_terminal(capsys):
    live = LiveLossPlot(mode="text", min_interval=3600)
    live({"step": 1, "loss": 4.0})  # first line: printed
    live({"step": 2, "loss": 3.9})  # within the interval: not printed
    live({"step": 3, "loss": 3.8, "val_loss": 3.95})  # evaluations are always printed
    live.close()
    assert capsys.readouterr().out.splitlines() == [
        "step 1: loss 4.0000", "step 3: loss 3.8000, val 3.9500"]
    with pytest.raises(TypeError, match="expects a dict"):
        live([1, 2])
    with pytest.raises(ValueError, match="mode must be"):
        LiveLossPlot(mode="gui")


def test_live_loss_plot_takes_the_trainers_records():
    train = pytest.importorskip("llmcourse.train", reason="llmcourse.train not built yet")
    live = LiveLossPlot(mode="silent")
    result = train.Trainer("tiny", max_iters=20, eval_interval=10, progress=False, log=None,
                           callbacks=[live.update]).train()
    series = loss_series(live.history)
    assert list(series) == ["loss", "train", "val"]  # batch loss, evaluations on both splits
    assert series["val"][0].tolist() == [0.0, 10.0, 20.0]
    assert series["val"][1].tolist() == [r["val_loss"] for r in result.history if "val_loss" in r]
    ax = viz.loss_curve(result.history)  # the result's history plots the same way
    assert [line.get_label() for line in ax.get_lines()] == ["loss", "train", "val"]
