"""Searching a sorted list."""

# EVOLVE-BLOCK-START
# Below this many items the search scans linearly instead of halving.
LINEAR_BELOW = 64


def search(xs, x):
    """The index of the first item of sorted `xs` that is not less than `x`."""
    lo, hi = 0, len(xs)
    while hi - lo > LINEAR_BELOW:
        mid = (lo + hi) // 2
        if xs[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    while lo < hi and xs[lo] < x:
        lo += 1
    return lo
# EVOLVE-BLOCK-END


def count_between(xs, low, high):
    """How many items of sorted `xs` lie in [low, high)."""
    return search(xs, high) - search(xs, low)
