"""A merge sort that hands short runs to insertion sort."""


def _insertion(xs, lo, hi):
    for i in range(lo + 1, hi):
        x = xs[i]
        j = i - 1
        while j >= lo and xs[j] > x:
            xs[j + 1] = xs[j]
            j -= 1
        xs[j + 1] = x


# EVOLVE-BLOCK-START
# Runs of at most this many items are sorted by insertion.
INSERTION_CUTOFF = 2


def _merge_sort(xs, lo, hi, buf):
    if hi - lo <= INSERTION_CUTOFF:
        _insertion(xs, lo, hi)
        return
    mid = (lo + hi) // 2
    _merge_sort(xs, lo, mid, buf)
    _merge_sort(xs, mid, hi, buf)
    if xs[mid - 1] <= xs[mid]:
        return
    buf[lo:mid] = xs[lo:mid]
    i, j, k = lo, mid, lo
    while i < mid and j < hi:
        if buf[i] <= xs[j]:
            xs[k] = buf[i]
            i += 1
        else:
            xs[k] = xs[j]
            j += 1
        k += 1
    while i < mid:
        xs[k] = buf[i]
        i += 1
        k += 1
# EVOLVE-BLOCK-END


def sort(items):
    """A sorted copy of `items` (stable)."""
    xs = list(items)
    if len(xs) > 1:
        _merge_sort(xs, 0, len(xs), [None] * len(xs))
    return xs
