"""The small GPT that ships inside the package, trained by the package's own CLI (lessons 1-20).

Lessons 1, 3, 7-11 and 18 look inside a model that has really learned something, without
training one first. ``load`` needs no network: the weights are package data.

>>> model, tok = load("shakespeare-char")
>>> model.training, tok.vocab_size, model.config.n_layer
(False, 65, 4)
>>> logits = model(torch.tensor([tok.encode("ROMEO")]))       # (1, 5, 65)
>>> tok.decode([int(logits[0, -1].argmax())])                  # after "ROMEO" comes ":"
':'

How it was made (command, time, losses) is written next to it, in ``data/shakespeare-char.md``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from . import hf
from .training.checkpoint import checkpoint_file, load_checkpoint, save_checkpoint
from .hf import GPT2Unavailable  # noqa: F401  (raised by load_gpt2)
from .model import GPT, GPTConfig
from .tokenizers import CharTokenizer

DATA_DIR = Path(__file__).resolve().parent / "data"
MODEL_FORMAT = "llmcourse-model"

#: Shipped models: name -> file in ``llmcourse/data``.
KNOWN = {"shakespeare-char": "shakespeare-char.pt"}


def available() -> list[str]:
    """Names :func:`load` accepts."""
    return sorted(KNOWN)


def path_of(name: str) -> Path:
    if name not in KNOWN:
        raise ValueError(f"unknown pretrained model {name!r}; known: {', '.join(available())}.")
    return DATA_DIR / KNOWN[name]


def export_model(path, model: GPT, tokenizer, dtype: torch.dtype = torch.float16, **meta) -> Path:
    """Write a compact, inference-only file: weights (stored as ``dtype``), config, tokenizer and
    ``meta`` (numbers and strings describing how it was trained). Loads with ``weights_only``."""
    weights = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
               for k, v in model.state_dict().items()}
    if model.config.tie_weights:
        weights.pop("lm_head.weight", None)  # the same matrix as the token embedding: store it once
    state = {"format": MODEL_FORMAT, "version": 1, "model": weights,
             "model_config": model.config.to_dict(), "tokenizer": tokenizer.to_dict(), "meta": dict(meta)}
    return save_checkpoint(state, path)


def model_from_state(state: dict, device="cpu") -> tuple[GPT, CharTokenizer]:
    """Build ``(model, tokenizer)`` from a training checkpoint or an exported model dict."""
    if not isinstance(state, dict):
        raise ValueError(f"not an llmcourse model checkpoint: it holds a {type(state).__name__}, not a dict.")
    for key in ("model", "model_config", "tokenizer"):
        if key not in state:
            raise ValueError(f"not an llmcourse model checkpoint: the key {key!r} is missing.")
    config = GPTConfig.from_dict(state["model_config"])
    model = GPT(config)
    weights = {k: v.float() if v.is_floating_point() else v for k, v in state["model"].items()}
    if config.tie_weights and "lm_head.weight" not in weights:
        weights["lm_head.weight"] = weights["embed.tok.weight"]
    model.load_state_dict(weights)
    tok = state["tokenizer"]
    if tok.get("type") != "char":
        raise ValueError(f"this loader knows character tokenizers only, the file has {tok.get('type')!r}.")
    return model.to(device).eval(), CharTokenizer.from_dict(tok)


def load_file(path, device="cpu") -> tuple[GPT, CharTokenizer]:
    """``(model, tokenizer)`` from a file or run directory written by ``train`` or ``export_model``."""
    from .env import check_device

    check_device(device)  # before reading the file: a CUDA device on a CPU-only PyTorch says so
    return model_from_state(load_checkpoint(path, map_location="cpu"), device)


def load(name: str = "shakespeare-char", device="cpu") -> tuple[GPT, CharTokenizer]:
    """Lesson 1 onwards: the shipped model in eval mode (float32) and its ``CharTokenizer``."""
    path = path_of(name)
    if not path.is_file():
        raise FileNotFoundError(f"the pretrained file {path} is missing from the installed package; "
                                f"reinstall llmcourse.")
    return load_file(path, device)


def info(name: str = "shakespeare-char") -> dict:
    """How a shipped model was trained: command, torch version, wall time, losses."""
    return dict(load_checkpoint(path_of(name))["meta"])


@torch.no_grad()
def validation_loss(model: GPT, tokenizer, corpus: str = "tinyshakespeare", val_fraction: float = 0.1,
                    max_windows: int | None = None, batch_size: int = 64) -> float:
    """Mean next-token loss over the validation split cut into consecutive, non-overlapping
    windows of ``block_size`` tokens (deterministic: no sampling). ``max_windows`` keeps the first
    ones only."""
    from .data import encode_corpus, load_corpus, train_val_split

    _, val = train_val_split(encode_corpus(load_corpus(corpus), tokenizer), val_fraction)
    T = model.config.block_size
    n = (len(val) - 1) // T if max_windows is None else min(max_windows, (len(val) - 1) // T)
    x = val[:n * T].view(n, T)  # (n, T) consecutive windows
    y = val[1:n * T + 1].view(n, T)  # (n, T) next tokens
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total = 0.0
    for i in range(0, n, batch_size):
        xb, yb = x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
        total += model(xb, yb)[1].item() * len(xb)
    model.train(was_training)
    return total / n


def resolve(spec: str) -> Path:
    """A pretrained name or a path -> the checkpoint file (used by ``generate --checkpoint``)."""
    if spec in KNOWN:
        return path_of(spec)
    target = checkpoint_file(spec)
    if not target.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {spec!r} (looked for {target}). Pass a run directory from "
            f"'python -m llmcourse train --out DIR', a .pt file, or a shipped name: {', '.join(available())}."
        )
    return target


def load_gpt2(name: str = "gpt2", *, allow_download: bool = True, timeout: float = 3.0):
    """Lesson 17: OpenAI's GPT-2 in the course's :class:`GPT` -> ``(model, hf_model, tokenizer)``.

    ``name`` is a model on the Hugging Face Hub (``"gpt2"`` is the 124M one, about 550 MB) or a
    folder written by ``save_pretrained``. The weights come from the local Hugging Face cache when
    they are there; otherwise they are downloaded, if ``allow_download`` is set and the Hub answers
    within ``timeout`` seconds. ``model`` is our ``GPT`` built by :meth:`GPT.from_hf_gpt2`,
    ``hf_model`` the ``transformers.GPT2LMHeadModel`` it was copied from (both in eval mode), and
    ``tokenizer`` GPT-2's tokenizer, or None when ``name`` comes without one.

    Raises :class:`llmcourse.hf.GPT2Unavailable` with a one-line reason when ``transformers`` is not installed
    or the weights are neither on this machine nor downloadable.
    """
    import os

    try:
        from transformers import AutoTokenizer, GPT2LMHeadModel
    except ImportError:
        raise hf.GPT2Unavailable("transformers is not installed (pip install transformers), "
                              "so GPT-2's weights cannot be loaded here.") from None
    local_only = True  # the cache (or a folder) first: no network, no waiting
    try:
        hf_model = GPT2LMHeadModel.from_pretrained(name, local_files_only=True)
    except OSError as err:
        if os.path.isdir(name):
            raise hf.GPT2Unavailable(f"{name} holds no model saved by save_pretrained "
                                  f"({hf._first_line(err)}).") from None
        if not allow_download:
            raise hf.GPT2Unavailable(f"{name!r} is not in the local Hugging Face cache, and downloading "
                                  "is off (allow_download=False).") from None
        if not hf._hub_reachable(timeout):
            raise hf.GPT2Unavailable(f"the Hugging Face Hub is not reachable from here, so {name!r} "
                                  "cannot be downloaded (on Colab it can).") from None
        local_only = False
        try:
            hf_model = GPT2LMHeadModel.from_pretrained(name)
        except OSError as err:
            raise hf.GPT2Unavailable(f"could not download {name!r} from the Hugging Face Hub "
                                  f"({hf._first_line(err)}).") from None
    hf_model.eval()
    tokenizer = None
    if not os.path.isdir(name) or any(os.path.isfile(os.path.join(name, f)) for f in hf._TOKENIZER_FILES):
        try:
            tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=local_only)
        except OSError as err:
            raise hf.GPT2Unavailable(f"{name!r}: its tokenizer could not be loaded ({hf._first_line(err)}).") from None
    return GPT.from_hf_gpt2(hf_model).eval(), hf_model, tokenizer
