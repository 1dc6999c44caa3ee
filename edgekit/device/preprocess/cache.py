"""Small per-parameter cache (mel matrix, DCT matrix, windows, resize taps, resample filters).  Keyed by the
parameter tuple; bounded so a long-running device process never grows it without limit."""

_CACHE = {}
_CACHE_MAX = 64


def cached(key, build):
    value = _CACHE.get(key)
    if value is None:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        value = _CACHE[key] = build()
    return value
