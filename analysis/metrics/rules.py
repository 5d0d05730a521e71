"""Regular-expression rules that reviewers and managers write (transcript conventions, a recipe's
``transcripts.rules``), run over what labelers write with a time limit.

Python's ``re`` has no timeout and does not stop for a signal while it matches: a pattern that backtracks
catastrophically (``(a|aa)+$`` over "aaaa...!") held the report, the version build or the conventions
page that applied it, for hours, on one transcript. The ``regex`` package (its default, ``re``-compatible
syntax) stops a match after ``timeout`` seconds; a rule that runs longer on one text raises
:class:`RuleTooSlow` naming it.

``regex`` writes a counted repeat out when it compiles (``a{300}`` is 300 steps), with no limit:
``(?:a{1000}){1000}`` took 0.5 s and 270 MB, ``(?:(?:a{65535}){65535}){65535}`` grew by a gigabyte a second
until the machine ran out. :func:`rule_compile` refuses a pattern whose counts multiply past
``MAX_UNROLLED`` before it is compiled.
"""

import functools
import re
from re import _constants as sre
from re import _parser as sre_parse

import regex

# Seconds one rule may take on one text: rules written for transcripts take well under a millisecond.
RULE_TIMEOUT_SECONDS = 1.0

error = regex.error


class RuleTooSlow(ValueError):
    """A rule stopped by the time limit; the message names it."""


# re's flags as regex spells them (regex.ASCII is another bit than re.ASCII)
_FLAGS = (
    (re.IGNORECASE, regex.IGNORECASE),
    (re.MULTILINE, regex.MULTILINE),
    (re.DOTALL, regex.DOTALL),
    (re.VERBOSE, regex.VERBOSE),
    (re.ASCII, regex.ASCII),
)


# Steps a compiled rule may be written out to: a{100000} is about 25 MB and 0.03 s to compile.
MAX_UNROLLED = 100_000
_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)
_COUNT = re.compile(r"(?<!\\)\{([0-9]*)(?:,[0-9]*)?\}")


def _unrolled(items) -> int:
    """The steps a parsed pattern is written out to: each counted repeat its least count times its body."""
    total = 0
    for op, av in items:
        if op in _REPEATS:
            total += max(av[0], 1) * _unrolled(av[2])
        elif op is sre.SUBPATTERN:
            total += _unrolled(av[3])
        elif op is sre.BRANCH:
            total += sum(_unrolled(branch) for branch in av[1])
        elif op is sre.ATOMIC_GROUP:
            total += _unrolled(av)
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            total += _unrolled(av[1])
        elif op is sre.GROUPREF_EXISTS:
            total += _unrolled(av[1]) + (_unrolled(av[2]) if av[2] else 0)
        else:
            total += 1
    return total


@functools.lru_cache(maxsize=512)  # rule_compile runs once per rule and transcript: regex caches the compile
def _unrolled_size(text: str, flags: int = 0) -> int:
    """``_unrolled`` of the pattern as ``re`` parses it; for syntax only ``regex`` reads (``\\p{L}``), the
    product of every least count it writes, as if each were inside the others (never less than the truth)."""
    try:
        return _unrolled(sre_parse.parse(text, flags))
    except (re.error, RecursionError, OverflowError):
        product = 1
        for least in _COUNT.findall(text):
            product *= max(int(least or 0), 1)
        return product


def rule_compile(pattern):
    """The compiled rule, from its text or from a compiled ``re`` pattern (``regex.error`` for an invalid
    pattern, or one whose counted repeats multiply past ``MAX_UNROLLED`` steps, refused uncompiled)."""
    text, flags = (pattern.pattern, pattern.flags) if isinstance(pattern, re.Pattern) else (pattern, 0)
    size = _unrolled_size(text, flags)
    if size > MAX_UNROLLED:
        raise regex.error(
            f"it repeats its parts {size:,} times when compiled, over the limit of {MAX_UNROLLED:,}: its counts "
            "multiply (a{1000} inside {1000}); count less"
        )
    if isinstance(pattern, re.Pattern):
        return regex.compile(text, sum(b for a, b in _FLAGS if flags & a))
    return regex.compile(text)


def rule_check_replacement(pattern: str, replacement: str) -> None:
    """Raise ``regex.error`` (or IndexError) for a replacement naming a group the pattern lacks. regex reads
    a replacement only on a match, so it is tried on a match that always exists: the pattern with an empty
    alternative added (on a line of its own, past a verbose pattern's comment), whose groups are the same."""
    regex.compile(pattern + "\n|").sub(replacement, "")


def rule_sub(compiled, replacement: str, text: str) -> str:
    """``compiled.sub(replacement, text)`` within ``RULE_TIMEOUT_SECONDS``, else RuleTooSlow."""
    try:
        return compiled.sub(replacement, text, timeout=RULE_TIMEOUT_SECONDS)
    except TimeoutError:
        raise RuleTooSlow(
            f"the rule '{compiled.pattern[:200]}' took over {RULE_TIMEOUT_SECONDS:g} s on one transcript "
            f"({len(text):,} characters) and was stopped: its pattern backtracks (a repeat inside a repeat, "
            "such as (a|aa)+ or (\\w+\\s?)+); write it without one"
        ) from None
