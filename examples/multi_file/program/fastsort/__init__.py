"""fastsort: a small sorting and searching package (the program evolve evolves)."""
from .hybrid import sort
from .search import count_between, search

__all__ = ["sort", "search", "count_between"]
