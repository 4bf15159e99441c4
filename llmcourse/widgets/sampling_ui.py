"""The sampling explorer as ipywidgets (lessons 1, 18, 20). The pictures and numbers come from
:mod:`llmcourse.widgets.sampler`; this module wires controls to them."""

from __future__ import annotations

import html

import ipywidgets as W
import torch

from .. import sampling as S
from ..viz.common import token_labels
from ._base import STYLE, Explorer, connect, error_html, png_image, set_png, row
from .sampler import (_logits_1d, _settings, format_sampling, render_sampling, sample_counts,
                      sampling_state, summary_html)


def _message(e: Exception) -> str:
    return str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)


class SamplingExplorer(Explorer):
    """Lesson 18: sliders for temperature, top-k and top-p, a greedy switch, a "sample N times"
    button, and (with a model) a prompt box and a "generate" button.

    Two ways in: ``SamplingExplorer(logits, labels)`` for a fixed distribution (the article's
    four-token example) or ``SamplingExplorer(model=model, tokenizer=tok, prompt="ROMEO:")`` for a
    model's next-token distribution after a prompt the learner types.

    The current numbers are in ``state`` (see :func:`~llmcourse.widgets.sampler.sampling_state`),
    the figure in ``png``, the sampled frequencies in ``freqs`` and the last continuation in
    ``generated_text``. Moving a control calls :meth:`update`; tests may call it directly.
    ``use_interactive_output`` chooses the wiring (default: ``interactive_output`` in a kernel,
    see :func:`~llmcourse.widgets._base.connect`).

    >>> ex = SamplingExplorer([2.0, 1.0, 0.5, 0.0], ["on", "the", "mat", "in"], use_interactive_output=False)
    >>> ex.top_k.value = 2                       # what moving the slider does
    >>> ex.state["kept"].tolist()
    [True, True, False, False]
    """

    def __init__(self, logits=None, labels=None, *, model=None, tokenizer=None, prompt: str = "ROMEO:",
                 top: int = 20, samples: int = 1000, seed: int = 0, max_new_tokens: int = 100,
                 use_interactive_output: bool | None = None):
        super().__init__()
        if (logits is None) == (model is None):
            raise ValueError("SamplingExplorer needs either logits (with labels), e.g. "
                             "SamplingExplorer([2.0, 1.0, 0.5, 0.0], ['on', 'the', 'mat', 'in']), "
                             "or model= and tokenizer=, not both and not neither.")
        if model is not None and tokenizer is None:
            raise ValueError("with model= also pass the tokenizer it was trained with (tokenizer=...).")
        self.model, self.tokenizer, self.top = model, tokenizer, int(top)
        self.generator = torch.Generator().manual_seed(seed)
        self.freqs = self.state = self.generated_text = self.error = None
        self.n_drawn = 0
        if logits is not None:
            self.logits = _logits_1d(logits)
            V = self.logits.numel()
            self.labels = [str(i) for i in range(V)] if labels is None else [str(lab) for lab in labels]
            if len(self.labels) != V:
                raise ValueError(f"labels has {len(self.labels)} entries but logits has {V}; give one "
                                 f"label per logit, e.g. ['on', 'the', 'mat', 'in'] for 4 logits.")
            self._prompt_of_logits = None
        else:
            V = model.config.vocab_size
            if getattr(tokenizer, "vocab_size", V) != V:
                raise ValueError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model's "
                                 f"vocab_size is {V}; use the tokenizer the model was trained with.")
            self.labels = token_labels(tokenizer, range(V))
            self.logits = self.next_token_logits(prompt)  # a bad first prompt raises here
            self._prompt_of_logits = prompt

        def slider(cls, **kw):
            return cls(continuous_update=False, style=STYLE, **kw)

        self.temperature = slider(W.FloatSlider, value=1.0, min=0.05, max=3.0, step=0.05,
                                  readout_format=".2f", description="temperature")
        self.greedy = W.Checkbox(value=False, description="greedy (T → 0)", indent=False)
        self.top_k = slider(W.IntSlider, value=0, min=0, max=min(V, 100), description="top-k (0 = off)")
        self.top_p = slider(W.FloatSlider, value=1.0, min=0.05, max=1.0, step=0.05,
                            readout_format=".2f", description="top-p (1 = off)")
        options = sorted({10, 100, 1000, 10000, int(samples)})
        self.n_samples = W.Dropdown(options=options, value=int(samples), description="N", style=STYLE,
                                    layout=W.Layout(width="140px"))
        self.sample_button = W.Button(description="sample N times")
        self.sample_button.on_click(lambda _button: self.sample())
        self.image = png_image()
        self.info = W.HTML()
        controls = {"temperature": self.temperature, "top_k": self.top_k, "top_p": self.top_p,
                    "greedy": self.greedy}
        rows = [row(self.temperature, self.greedy), row(self.top_k, self.top_p)]
        extra = []
        if model is not None:
            self.prompt = W.Text(value=prompt, description="prompt", continuous_update=False, style=STYLE)
            controls["prompt"] = self.prompt
            rows.insert(0, row(self.prompt))
            self.length = slider(W.IntSlider, value=max_new_tokens, min=10, max=500, step=10,
                                 description="new tokens")
            self.generate_button = W.Button(description="generate")
            self.generate_button.on_click(lambda _button: self.generate())
            self.generated = W.HTML()
            extra = [row(self.length, self.generate_button), self.generated]
        # update() runs once now and again whenever a control changes (interactive_output in a kernel).
        self.out = connect(self.update, controls, use_interactive_output)
        self.widget = W.VBox(rows + [self.image, self.info, row(self.n_samples, self.sample_button)]
                             + extra + [self.out])

    # -- the model ---------------------------------------------------------------------------
    @torch.no_grad()
    def next_token_logits(self, prompt: str) -> torch.Tensor:
        """The model's logits ``(V,)`` for the token after ``prompt`` (cropped to block_size)."""
        ids = self.tokenizer.encode(prompt)
        if not ids:
            raise ValueError("the prompt is empty: type at least one character.")
        block = self.model.config.block_size
        device = next(self.model.parameters()).device
        idx = torch.tensor([ids[-block:]], dtype=torch.long, device=device)  # (1, T)
        was_training = self.model.training
        self.model.eval()
        try:
            return self.model(idx)[0, -1].float().cpu()  # (V,): the last position's scores
        finally:
            self.model.train(was_training)

    # -- the update function -----------------------------------------------------------------
    def settings(self) -> tuple:
        """``(temperature, top_k, top_p, greedy)`` as the package's functions take them."""
        return _settings(self.temperature.value, self.top_k.value, self.top_p.value, self.greedy.value)

    def update(self, temperature=None, top_k=None, top_p=None, greedy=None, prompt=None) -> None:
        """Recompute and redraw from the controls (arguments are accepted for
        ``interactive_output`` but the widgets' current values are used)."""
        self.freqs, self.n_drawn, self.error = None, 0, None  # old draws belong to old settings
        self.temperature.disabled = bool(self.greedy.value)
        if self.model is not None and self.prompt.value != self._prompt_of_logits:
            try:
                self.logits = self.next_token_logits(self.prompt.value)
                self._prompt_of_logits = self.prompt.value
            except (KeyError, ValueError, IndexError, TypeError) as e:
                self.error = _message(e)
                self.info.value = error_html(self.error)
                return
        self.refresh()

    def refresh(self) -> None:
        t, k, p, greedy = self.settings()
        self.state = sampling_state(self.logits, t, k, p, greedy)
        # the summary first: when the picture changes in the browser, its text is already there
        self.info.value = summary_html(self.state, self.freqs, self.n_drawn)
        set_png(self.image, render_sampling(self.state, self.labels, self.freqs, self.top))

    def sample(self, n: int | None = None) -> torch.Tensor:
        """Draw ``n`` tokens (default: the N menu) with the current settings; show and return
        the counts per token."""
        n = int(n if n is not None else self.n_samples.value)
        counts = sample_counts(self.logits, n, *self.settings(), generator=self.generator)
        self.freqs, self.n_drawn = counts.float() / n, n
        self.refresh()
        return counts

    def generate(self, max_new_tokens: int | None = None) -> str:
        """Continue the prompt with the current settings; show and return the new text."""
        if self.model is None:
            raise ValueError("generate needs a model: SamplingExplorer(model=..., tokenizer=...).")
        t, k, p, greedy = self.settings()
        n = int(max_new_tokens if max_new_tokens is not None else self.length.value)
        prompt = self.prompt.value
        try:
            text = S.complete(self.model, self.tokenizer, prompt, n, temperature=0 if greedy else t,
                              top_k=k, top_p=p, generator=self.generator)
        except (KeyError, ValueError, IndexError, TypeError) as e:
            self.generated.value = error_html(_message(e))
            return ""
        self.generated_text = text[len(prompt):] if text.startswith(prompt) else text
        self.generated.value = (f"<pre style='margin:0;white-space:pre-wrap'>"
                                f"<span style='color:#666'>{html.escape(prompt)}</span>"
                                f"<b>{html.escape(self.generated_text)}</b></pre>")
        return self.generated_text

    def text(self) -> str:
        body = format_sampling(self.state, self.labels, self.freqs, top=min(self.top, 10))
        if self.generated_text is not None:
            body += f"\n\ngenerated: {self.prompt.value}{self.generated_text}"
        return body

    def __repr__(self) -> str:
        mode = "model" if self.model is not None else "logits"
        return f"<SamplingExplorer ({mode}, {self.state['vocab_size']} tokens)>"


def sampling_explorer(logits=None, labels=None, *, model=None, tokenizer=None, prompt: str = "ROMEO:",
                      top: int = 20, samples: int = 1000, seed: int = 0, display: bool = True):
    """Lessons 1, 18 and 20: build a :class:`SamplingExplorer`, show it, and return it.

    In a notebook it appears as a live widget (with a static picture for viewers without
    widgets); in a terminal the text table is printed. ``display=False`` only builds it: use
    that to set controls in code first (``ex.top_p.value = 0.7``) and then show ``ex``, so the
    saved picture shows that state. An explorer appears at most once per cell.
    """
    ex = SamplingExplorer(logits, labels, model=model, tokenizer=tokenizer, prompt=prompt, top=top,
                          samples=samples, seed=seed)
    if display:
        ex.show()
    return ex

