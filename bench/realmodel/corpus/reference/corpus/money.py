import re

__all__ = ["parse_cents", "format_cents"]


def parse_cents(text: str) -> int:
    m = re.fullmatch(r"(-?)(\d+)(?:\.(\d{1,2}))?", text)
    if not m:
        raise ValueError("bad amount")
    cents = int(m.group(2)) * 100 + int((m.group(3) or "0").ljust(2, "0"))
    return -cents if m.group(1) else cents


def format_cents(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"
