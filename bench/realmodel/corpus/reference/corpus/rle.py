import re

__all__ = ["encode", "decode"]


def encode(s: str) -> str:
    return "".join(f"{len(m.group(0))}{m.group(1)}" for m in re.finditer(r"(.)\1*", s, re.S))


def decode(s: str) -> str:
    if not re.fullmatch(r"(?:\d+\D)*", s, re.S):
        raise ValueError("malformed")
    return "".join(ch * int(n) for n, ch in re.findall(r"(\d+)(\D)", s, re.S))
