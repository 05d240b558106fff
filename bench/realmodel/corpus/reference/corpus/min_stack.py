__all__ = ["MinStack"]


class MinStack:
    def __init__(self):
        self._items = []

    def push(self, x):
        self._items.append((x, min(x, self._items[-1][1]) if self._items else x))

    def _check(self):
        if not self._items:
            raise IndexError("empty stack")

    def pop(self):
        self._check()
        return self._items.pop()[0]

    def top(self):
        self._check()
        return self._items[-1][0]

    def min(self):
        self._check()
        return self._items[-1][1]

    def __len__(self):
        return len(self._items)
