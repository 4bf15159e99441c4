"""The head statistics of lessons 8 and 9 measure what they say, on maps whose answer is known."""

import torch

from llmcourse.experiments.attention_heads import causal_weights, head_ablation_losses, map_statistics

CHARS = ["a", "b", " ", "\n"]


def _one_key_maps(T, key_of):
    m = torch.zeros(T, T)
    for i in range(T):
        m[i, key_of(i)] = 1.0
    return m.expand(1, 1, 1, T, T)


def test_each_pattern_is_measured_on_a_map_that_has_it_and_only_it():
    ids = torch.tensor([[0, 1, 2, 0, 1, 1, 3, 0, 1, 1]])          # "ab ab" + "b\nabb": words start at 0, 3, 7
    T = ids.shape[1]
    prev = map_statistics(_one_key_maps(T, lambda i: max(i - 1, 0)), ids, CHARS, start=2)
    assert prev["previous"].item() == 1.0 and prev["self"].item() == 0.0 and prev["distance"].item() == 1.0
    first = map_statistics(_one_key_maps(T, lambda i: 0), ids, CHARS, start=2)
    assert first["first"].item() == 1.0 and first["previous"].item() == 0.0
    starts = [0, 0, 0, 3, 3, 3, 3, 7, 7, 7]
    word = map_statistics(_one_key_maps(T, lambda i: starts[i]), ids, CHARS, start=2)
    assert word["word start"].item() == 1.0
    newline = map_statistics(_one_key_maps(T, lambda i: 6 if i >= 6 else i), ids, CHARS, start=2)
    assert abs(newline["newline"].item() - 4 / 8) < 1e-6            # queries 6..9 of the 8 from start=2


def test_ablation_of_a_head_that_matters_raises_the_loss_and_restores_the_model():
    from llmcourse.config import GPTConfig
    from llmcourse.model import GPT

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=5, block_size=8, n_layer=1, n_head=2, n_embd=8)).eval()
    x = torch.randint(0, 5, (3, 8))
    y = torch.randint(0, 5, (3, 8))
    base, rise = head_ablation_losses(model, x, y)
    assert rise.shape == (1, 2) and (rise != 0).all()
    assert abs(model(x, y)[1].item() - base) < 1e-6               # the hooks are gone


def test_causal_weights_never_look_ahead():
    w = causal_weights(torch.randn(2, 5, 4), torch.randn(2, 5, 4))
    assert torch.allclose(w.sum(-1), torch.ones(2, 5)) and w.triu(1).abs().max() == 0
