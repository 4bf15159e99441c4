"""Which characters an embedding table treats alike: average cosines within groups of characters
(vowels, consonants, capitals, punctuation, ...) against the average between groups, and how close
each letter sits to its twin in the other case.

Lesson 3 runs these on the trained and on a fresh table of the shipped character model. On a toy
table where 'a' and 'A' point the same way and 'b' the opposite way:

>>> import torch
>>> E = torch.tensor([[1.0, 0.0], [1.0, 0.1], [-1.0, 0.0], [-1.0, 0.2]])   # rows: a, A, b, B
>>> case_twins(E, ["a", "A", "b", "B"])
{'mean_cosine': 0.99, 'nearest_is_twin': 2, 'letters': 2}
>>> [row["group"] for row in group_cosines(E, ["a", "A", "b", "B"])]
['vowel', 'upper case', 'consonant', 'between groups']
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: The three characters that are rare in Tiny Shakespeare; lesson 3 looks at them apart.
RARE = "$&3"


def group_of(c: str) -> str:
    """The group of one character: vowel, consonant, upper case, space/newline, rare or punctuation.

    >>> [group_of(c) for c in "aZ\\n?$x"]
    ['vowel', 'upper case', 'space/newline', 'punctuation', 'rare ($ & 3)', 'consonant']
    """
    if c in "aeiou":
        return "vowel"
    if c.islower():
        return "consonant"
    if c.isupper():
        return "upper case"
    if c in " \n":
        return "space/newline"
    if c in RARE:
        return "rare ($ & 3)"
    return "punctuation"


def _cosines(E: torch.Tensor) -> torch.Tensor:
    U = F.normalize(E, dim=1)  # (V, d) unit rows
    return U @ U.T  # (V, V) cosine of every pair


def group_cosines(E: torch.Tensor, chars: list[str]) -> list[dict]:
    """One row per group (in first-seen order of ``chars``), then one for "between groups": the
    group's size and the average cosine over pairs of different characters inside it (``None`` for a
    group of one), and the average cosine over pairs from different groups."""
    S = _cosines(E)
    groups = [group_of(c) for c in chars]
    names = list(dict.fromkeys(groups))
    g = torch.tensor([names.index(x) for x in groups])  # (V,) group number of every character
    off_diag = ~torch.eye(len(g), dtype=torch.bool)
    rows = []
    for k, name in enumerate(names):
        inside = (g == k).unsqueeze(0) & (g == k).unsqueeze(1) & off_diag  # (V, V)
        mean = S[inside].mean().item() if inside.any() else None
        rows.append({"group": name, "size": int((g == k).sum()), "mean_cosine": mean})
    between = g.unsqueeze(0) != g.unsqueeze(1)
    rows.append({"group": "between groups", "size": None, "mean_cosine": S[between].mean().item()})
    return rows


def case_twins(E: torch.Tensor, chars: list[str]) -> dict:
    """For every lower-case letter whose capital is in ``chars``: the average cosine between the two
    (rounded to 2 decimals), and for how many of them the capital is the nearest other row."""
    S = _cosines(E).clone()
    S.fill_diagonal_(-float("inf"))  # a row is not its own neighbour
    pairs = [(chars.index(c), chars.index(c.upper())) for c in chars if c.islower() and c.upper() in chars]
    cos = [S[lo, up].item() for lo, up in pairs]
    twins = sum(int(S[lo].argmax()) == up for lo, up in pairs)
    return {"mean_cosine": round(sum(cos) / len(cos), 2), "nearest_is_twin": twins, "letters": len(pairs)}
