"""Interoperability with Hugging Face ``transformers`` GPT-2 (lessons 15-17 and the tests).

GPT-2 stores its linear layers as ``Conv1D`` with weights of shape ``(in, out)``; ``nn.Linear``
stores ``(out, in)``, so every matrix is transposed on the way in and out. ``transformers`` is a
``[dev]`` extra: it is imported only when these functions are called.

``GPT.from_hf_gpt2(hf_model)`` (in :mod:`llmcourse.model`) builds a model from
:func:`config_kwargs_from_hf` and :func:`load_hf_gpt2_weights`; :func:`to_hf_gpt2` goes the other
way. This module works on any ``GPT`` it is given and never imports :mod:`llmcourse.model`, so
the model can use it without an import cycle.
"""

from __future__ import annotations

import torch

_ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu", "relu": "relu"}
_TRANSPOSED = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def _hf_to_ours(name: str) -> str:
    name = name.removeprefix("transformer.")
    name = name.replace("wte.", "embed.tok.").replace("wpe.", "embed.pos.")
    if name.startswith("h."):
        name = "blocks." + name[2:]
    return name


def config_kwargs_from_hf(hf_config) -> dict:
    """The ``GPTConfig`` keyword arguments that give the sizes of a ``GPT2Config``.

    >>> from types import SimpleNamespace as NS
    >>> config_kwargs_from_hf(NS(vocab_size=50257, n_positions=1024, n_layer=12, n_head=12, n_embd=768,
    ...                          layer_norm_epsilon=1e-5, activation_function="gelu_new"))["activation"]
    'gelu_tanh'
    """
    act = getattr(hf_config, "activation_function", "gelu_new")
    if act not in _ACTIVATIONS:
        raise ValueError(f"unsupported GPT-2 activation {act!r}; supported: {sorted(_ACTIVATIONS)}.")
    if getattr(hf_config, "scale_attn_by_inverse_layer_idx", False) or getattr(
        hf_config, "reorder_and_upcast_attn", False
    ):
        raise ValueError("GPT-2 variants with scale_attn_by_inverse_layer_idx/reorder_and_upcast_attn are not supported.")
    return dict(vocab_size=hf_config.vocab_size, block_size=hf_config.n_positions,
                n_layer=hf_config.n_layer, n_head=hf_config.n_head, n_embd=hf_config.n_embd,
                ln_eps=hf_config.layer_norm_epsilon, activation=_ACTIVATIONS[act])


@torch.no_grad()
def load_hf_gpt2_weights(model, hf_model):
    """Copy the weights of ``hf_model`` (a ``GPT2LMHeadModel``) into ``model`` (a ``GPT`` of the
    same sizes, see :func:`config_kwargs_from_hf`) and return ``model``."""
    ours = model.state_dict()
    for name, tensor in hf_model.state_dict().items():
        if name.endswith(".attn.bias") or name.endswith(".attn.masked_bias") or name == "lm_head.weight":
            continue  # causal-mask buffers of older transformers; the head is tied to wte
        key = _hf_to_ours(name)
        if key not in ours:
            raise KeyError(f"unexpected GPT-2 weight {name!r} (mapped to {key!r}).")
        value = tensor.t() if key.endswith(_TRANSPOSED) else tensor
        if ours[key].shape != value.shape:
            raise ValueError(f"shape mismatch for {name}: {tuple(value.shape)} vs {tuple(ours[key].shape)}.")
        ours[key].copy_(value)
    return model


@torch.no_grad()
def to_hf_gpt2(model):
    """The inverse: a ``transformers.GPT2LMHeadModel`` with the weights of ``model`` (a ``GPT``
    with GPT-2's architecture), in eval mode."""
    from transformers import GPT2Config, GPT2LMHeadModel

    c = model.config
    if (c.pos_embedding, c.norm_position, c.norm, c.bias, c.tie_weights) != ("learned", "pre", "layer", True, True):
        raise ValueError("only GPT-2's architecture (learned positions, pre-LN LayerNorm, biases, tied head) maps to GPT2LMHeadModel.")
    act = {"gelu_tanh": "gelu_new", "gelu": "gelu", "relu": "relu"}[c.activation]
    hf_cfg = GPT2Config(vocab_size=c.vocab_size, n_positions=c.block_size, n_embd=c.n_embd,
                        n_layer=c.n_layer, n_head=c.n_head, layer_norm_epsilon=c.ln_eps,
                        activation_function=act, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                        tie_word_embeddings=True)
    hf = GPT2LMHeadModel(hf_cfg)
    ours = model.state_dict()
    target = hf.state_dict()
    for name in target:
        if name.endswith(".attn.bias") or name.endswith(".attn.masked_bias") or name == "lm_head.weight":
            continue
        key = _hf_to_ours(name)
        value = ours[key].t() if key.endswith(_TRANSPOSED) else ours[key]
        target[name].copy_(value)
    hf.tie_weights()
    return hf.eval()


# --- OpenAI's GPT-2 weights in the course's model (lesson 17) -----------------------------------
class GPT2Unavailable(RuntimeError):
    """GPT-2's weights cannot be loaded on this machine; the message says why, in one line."""


def _reachable(address: str, timeout: float) -> bool:
    """True when a TCP connection to the host of the URL ``address`` opens within ``timeout`` seconds."""
    import socket
    from urllib.parse import urlparse

    url = urlparse(address)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def _hub_reachable(timeout: float) -> bool:
    """True when the Hugging Face Hub answers within ``timeout`` seconds and is not switched off."""
    import os

    if os.environ.get("HF_HUB_OFFLINE", "0").lower() not in ("", "0", "false", "no"):
        return False
    return _reachable(os.environ.get("HF_ENDPOINT") or "https://huggingface.co", timeout)


_TOKENIZER_FILES = ("tokenizer.json", "vocab.json")  # what save_pretrained writes for GPT-2's tokenizer


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


#: Where tiktoken downloads GPT-2's vocabulary from (``tiktoken_ext.openai_public.gpt2``).
GPT2_VOCAB_FILES = ("https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/vocab.bpe",
                    "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/encoder.json")


def _tiktoken_cached(urls) -> bool:
    """True when tiktoken's file cache holds every file of ``urls`` (its cache rule: SHA-1 of the URL)."""
    import hashlib
    import os
    import tempfile

    cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR",
                               os.environ.get("DATA_GYM_CACHE_DIR", os.path.join(tempfile.gettempdir(), "data-gym-cache")))
    return bool(cache_dir) and all(
        os.path.isfile(os.path.join(cache_dir, hashlib.sha1(u.encode()).hexdigest())) for u in urls)


def load_gpt2_encoding(*, allow_download: bool = True, timeout: float = 3.0):
    """Lesson 2: tiktoken's GPT-2 encoding (50,257 tokens), the vocabulary of OpenAI's GPT-2.

    tiktoken downloads its two vocabulary files (about 1.5 MB) the first time and caches them. They
    are taken from that cache when they are there; otherwise they are downloaded, if
    ``allow_download`` is set and the server answers within ``timeout`` seconds. Raises
    :class:`GPT2Unavailable` with a one-line reason when tiktoken is not installed or the files are
    neither cached nor downloadable.
    """
    try:
        import tiktoken
    except ImportError:
        raise GPT2Unavailable("tiktoken is not installed (pip install tiktoken), "
                              "so GPT-2's vocabulary cannot be loaded here.") from None
    if not _tiktoken_cached(GPT2_VOCAB_FILES):
        if not allow_download:
            raise GPT2Unavailable("GPT-2's vocabulary is not in tiktoken's cache, and downloading is off "
                                  "(allow_download=False).")
        if not _reachable(GPT2_VOCAB_FILES[0], timeout):
            raise GPT2Unavailable("the server tiktoken downloads GPT-2's vocabulary from is not reachable "
                                  "from here (on Colab it is).")
    return tiktoken.get_encoding("gpt2")
