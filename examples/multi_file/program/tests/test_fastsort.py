"""The correctness gate: the evaluator runs these before it times anything."""
import random
import unittest

from fastsort import count_between, search, sort


class SortTest(unittest.TestCase):
    def test_matches_sorted(self):
        rng = random.Random(7)
        for n in [0, 1, 2, 3, 5, 8, 13, 31, 64, 100, 257]:
            xs = [rng.randint(-50, 50) for _ in range(n)]
            self.assertEqual(sort(xs), sorted(xs))

    def test_stable(self):
        pairs = [(k % 5, i) for i, k in enumerate(range(97, 0, -1))]
        keyed = [Key(p) for p in pairs]
        self.assertEqual([k.pair for k in sort(keyed)], sorted(pairs, key=lambda p: p[0]))

    def test_leaves_input_alone(self):
        xs = [3, 1, 2]
        sort(xs)
        self.assertEqual(xs, [3, 1, 2])


class Key:
    """Compares by the first item of a pair only (to check stability)."""

    def __init__(self, pair):
        self.pair = pair

    def __lt__(self, other):
        return self.pair[0] < other.pair[0]

    def __le__(self, other):
        return self.pair[0] <= other.pair[0]

    def __gt__(self, other):
        return self.pair[0] > other.pair[0]


class SearchTest(unittest.TestCase):
    def test_first_not_less(self):
        rng = random.Random(11)
        for n in [0, 1, 2, 7, 100, 1000]:
            xs = sorted(rng.randint(0, 60) for _ in range(n))
            for x in range(-2, 63):
                expected = next((i for i, y in enumerate(xs) if y >= x), len(xs))
                self.assertEqual(search(xs, x), expected)

    def test_count_between(self):
        xs = sorted([1, 2, 2, 3, 5, 8, 8, 8, 13])
        self.assertEqual(count_between(xs, 2, 8), 4)
        self.assertEqual(count_between(xs, 0, 100), len(xs))


if __name__ == "__main__":
    unittest.main()
