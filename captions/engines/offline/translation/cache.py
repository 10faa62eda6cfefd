"""A small thread-safe LRU cache: streaming captions ask for the same prefix many times."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable


class LRUCache:
    """Keep the ``size`` most recently used values."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._data: OrderedDict[Hashable, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> str | None:
        """Return the cached value, marking it recently used, or None."""
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Hashable, value: str) -> None:
        """Store a value, dropping the least recently used beyond ``size``."""
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)
