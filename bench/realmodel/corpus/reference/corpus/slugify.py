import re

__all__ = ["slugify"]


def slugify(title: str) -> str:
    if not isinstance(title, str):
        raise TypeError("title must be a str")
    return "-".join(re.findall(r"[a-z0-9]+", title.lower()))
