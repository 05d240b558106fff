import re

__all__ = ["word_frequencies"]


def word_frequencies(text: str) -> dict:
    if not isinstance(text, str):
        raise TypeError("text must be a str")
    counts: dict = {}
    for w in re.findall(r"[A-Za-z0-9']+", text):
        counts[w.lower()] = counts.get(w.lower(), 0) + 1
    return counts
