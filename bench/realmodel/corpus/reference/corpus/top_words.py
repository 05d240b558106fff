from generated.corpus.word_freq import word_frequencies

__all__ = ["top_words"]


def top_words(text, n):
    if n < 0:
        raise ValueError("n must be >= 0")
    return sorted(word_frequencies(text).items(), key=lambda kv: (-kv[1], kv[0]))[:n]
