from collections import deque

__all__ = ["RingBuffer"]


class RingBuffer:
    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self._items = deque(maxlen=capacity)

    @property
    def capacity(self):
        return self._items.maxlen

    def append(self, x):
        self._items.append(x)

    def to_list(self):
        return list(self._items)

    def __len__(self):
        return len(self._items)
