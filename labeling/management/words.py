"""Counts in the management commands' sentences: "1 duplicate", "2 duplicates", never "1 duplicates"."""


def counted(number: int, noun: str, plural: str = "") -> str:
    """``number`` and ``noun``, in the plural (``plural``, else the noun with an s) unless it is 1."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"
