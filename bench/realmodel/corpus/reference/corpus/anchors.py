from generated.corpus.slugify import slugify

__all__ = ["make_anchors"]


def make_anchors(headings):
    seen: dict = {}
    out = []
    for h in headings:
        if not isinstance(h, str):
            raise TypeError("heading must be a str")
        base = slugify(h) or "section"
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return out
