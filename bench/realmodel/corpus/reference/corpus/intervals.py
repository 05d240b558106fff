__all__ = ["merge_intervals"]


def merge_intervals(intervals):
    out = []
    for start, end in sorted(intervals):
        if start > end:
            raise ValueError("bad interval")
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out
