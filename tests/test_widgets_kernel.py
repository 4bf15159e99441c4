"""The explorers and the live loss plot in a real Jupyter kernel without a frontend (how nbval
and the notebook-execution tool run lessons): every output a committed notebook keeps must be
meaningful without widgets."""

import base64

import nbformat
import pytest
from nbclient import NotebookClient

CELLS = [
    # 0: a bare call as the cell's last line: shown once, not twice
    'from llmcourse.widgets import sampling_explorer, attention_explorer\n'
    'sampling_explorer([2.0, 1.0, 0.5, 0.0], ["on", "the", "mat", "in"])',
    # 1: built without showing, set up, then shown as the cell's result
    'ex = sampling_explorer([2.0, 1.0, 0.5, 0.0], ["on", "the", "mat", "in"], display=False)\n'
    'ex.top_p.value = 0.7\n'
    'ex',
    # 2: model mode and the attention explorer on a tiny random GPT
    'import torch\n'
    'from llmcourse import GPT, GPTConfig, CharTokenizer\n'
    'tok = CharTokenizer.from_text("ROMEO: But soft, what light\\n")\n'
    'torch.manual_seed(0)\n'
    'model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=2, n_head=2, n_embd=16))\n'
    's = sampling_explorer(model=model, tokenizer=tok, prompt="ROMEO:")\n'
    'print(repr(s.generate(12)))\n'
    'a = attention_explorer(model, tok, "ROMEO: But soft")',
    # 3: shown by the call, then displayed again and returned in the same cell: still once
    'e3 = sampling_explorer([1.0, 0.0], ["a", "b"])\n'
    'display(e3)\n'
    'e3',
    # 4: the live loss plot: one output, replaced in place
    'from llmcourse.viz import LiveLossPlot\n'
    'live = LiveLossPlot(min_interval=0)\n'
    'for step in range(5):\n'
    '    live.update({"step": step, "loss": 4.0 - 0.5 * step})\n'
    'live.close()\n'
    'print(live.draws)',
]

WIDGET = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def executed():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=120, kernel_name="python3", record_timing=False).execute()
    return nb


def explorer_outputs(cell):
    return [o for o in cell.outputs if WIDGET in o.get("data", {})]


@pytest.mark.slow
def test_each_explorer_is_one_output_with_widget_png_and_text(executed):
    for i in (0, 1, 3):
        outs = explorer_outputs(executed.cells[i])
        assert len(outs) == 1, f"cell {i}: the explorer was shown {len(outs)} times"
        data = outs[0]["data"]
        assert base64.b64decode(data["image/png"])[:4] == b"\x89PNG"  # the static picture
        assert data["text/plain"].startswith("token")  # the text table
    # the picture and text of cell 1 show the state at display time (top-p 0.70: two tokens kept)
    assert "kept 2 of 4 tokens" in explorer_outputs(executed.cells[1])[0]["data"]["text/plain"]


@pytest.mark.slow
def test_model_explorers_and_generation_run_in_a_kernel(executed):
    cell = executed.cells[2]
    assert not [o for o in cell.outputs if o.output_type == "error"]
    assert len(explorer_outputs(cell)) == 2
    text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    assert len(eval(text.strip())) == 12  # the generated continuation (a repr of 12 characters)
    attention_text = explorer_outputs(cell)[1]["data"]["text/plain"]
    assert attention_text.startswith("layer 0, head 0: query t @14")


@pytest.mark.slow
def test_live_loss_plot_keeps_one_updated_output(executed):
    cell = executed.cells[4]
    images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1, "nbclient applies update_display_data: one image, the final one"
    stream = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    assert stream.strip() == "5"  # drawn at each of the 5 updates; close() had nothing new
