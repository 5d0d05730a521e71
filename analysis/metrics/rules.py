"""Regular-expression rules that reviewers and managers write (transcript conventions, a recipe's
``transcripts.rules``), run over what labelers write with a time limit.

Python's ``re`` has no timeout and does not stop for a signal while it matches: a pattern that backtracks
catastrophically (``(a|aa)+$`` over "aaaa...!") held the report, the version build or the conventions
page that applied it, for hours, on one transcript. The ``regex`` package (its default, ``re``-compatible
syntax) stops a match after ``timeout`` seconds; a rule that runs longer on one text raises
:class:`RuleTooSlow` naming it.
"""

import re

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


def rule_compile(pattern):
    """The compiled rule, from its text or from a compiled ``re`` pattern (``regex.error`` for an invalid
    pattern)."""
    if isinstance(pattern, re.Pattern):
        return regex.compile(pattern.pattern, sum(b for a, b in _FLAGS if pattern.flags & a))
    return regex.compile(pattern)


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
