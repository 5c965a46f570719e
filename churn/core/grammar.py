"""The text a customer's values may be written in, and JSON Schema patterns that accept exactly that text.

A numeric string is a plain ASCII decimal: an optional sign, the digits 0-9 with an optional decimal
point ("41", "+41", "41.", "41.50", ".5") and optional ASCII white space around it (space, tab, line
feed, carriage return, vertical tab, form feed). No exponent, no "_", no other digits, no "inf",
"nan" or hex. A category may be spelled as training normalized it (churn.core.features.normalize): any
case, a space for "_", white space around.

A blank is a value with nothing in it but the white space the field allows around a value: for a number,
empty or ASCII white space only; for a category, empty or white space only as str.strip() sees it. Both
mean a value that is not there (churn.core.contract says what a missing value is).

The patterns are built from these rules, not written beside them: the OpenAPI document (through
churn.core.contract) accepts a string exactly when the service does, which tests/core/test_contract.py checks
on generated text.
"""

from __future__ import annotations

import functools
import re

ASCII_SPACE = "\t\n\x0b\x0c\r "
_SPACE = r"[\t\n\x0b\x0c\r ]*"
_SIGNED_DECIMAL = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
NUMERAL = re.compile(_SPACE + _SIGNED_DECIMAL + _SPACE)  # use with fullmatch


def is_numeral(text: str) -> bool:
    return NUMERAL.fullmatch(text) is not None


def is_blank(text: str) -> bool:
    """A blank number: empty or ASCII white space only (what a blank CSV cell holds), the white space a
    numeral may have around it."""
    return not text.strip(ASCII_SPACE)


def is_blank_spelling(text: str) -> bool:
    """A blank category: nothing left once the white space a spelling may have around it is trimmed."""
    return not text.strip()


BLANK_PATTERN = f"^{_SPACE}$"


# Numerals whose whole part is 0: "0", "00.5", ".5"; exactly zero: "0", "0.00", ".0".
_ZERO = r"(?:0+(?:\.[0-9]*)?|0*\.[0-9]+)"
_EXACT_ZERO = r"(?:0+(?:\.0*)?|0*\.0+)"
_ANY_FRACTION = r"(?:\.[0-9]*)?"
_ZERO_FRACTION = r"(?:\.0*)?"


def numeral_pattern(intervals: list[tuple[int, int]], whole: bool = False) -> str:
    """A pattern for the numerals (as NUMERAL reads them) whose value lies in one of the intervals
    [low, high] of whole numbers (0 <= low <= high); with whole=True, only whole values ("1.00" is 1).

    A value in [low, high] has a whole part n with low <= n < high (any fraction), or n == high and a
    zero fraction. A minus sign is allowed on zero only: "-0" is 0, every other negative is refused.
    """
    forms: list[str] = []
    for low, high in intervals:
        if low == 0:
            zero = _EXACT_ZERO if whole or high == 0 else _ZERO
            forms += [rf"\+?{zero}", f"-{_EXACT_ZERO}"]
        first = max(low, 1)
        if whole and first <= high:
            forms.append(rf"\+?0*(?:{integers(first, high)}){_ZERO_FRACTION}")
        elif not whole:
            if first <= high - 1:
                forms.append(rf"\+?0*(?:{integers(first, high - 1)}){_ANY_FRACTION}")
            if high >= 1:
                forms.append(rf"\+?0*{high}{_ZERO_FRACTION}")
    return f"^{_SPACE}(?:{'|'.join(forms)}){_SPACE}$"


def integers(low: int, high: int) -> str:
    """An alternation matching the numerals low..high (1 <= low <= high) written without leading zeros."""
    parts: list[str] = []
    while low <= high:
        top = min(high, 10 ** len(str(low)) - 1)
        parts += same_width(str(low), str(top))
        low = top + 1
    return "|".join(parts)


def same_width(low: str, high: str) -> list[str]:
    """Alternatives matching the numerals from low to high, both written with the same number of digits."""
    if not low:
        return [""]
    if low[0] == high[0]:
        return [low[0] + group(same_width(low[1:], high[1:]))]
    rest = len(low) - 1
    if low[1:] == "0" * rest and high[1:] == "9" * rest:
        return [f"[{low[0]}-{high[0]}]" + any_digits(rest)]
    out = [low[0] + group(same_width(low[1:], "9" * rest))]
    if int(high[0]) - int(low[0]) > 1:
        out.append(f"[{int(low[0]) + 1}-{int(high[0]) - 1}]" + any_digits(rest))
    out.append(high[0] + group(same_width("0" * rest, high[1:])))
    return out


def group(alternatives: list[str]) -> str:
    return alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"


def any_digits(count: int) -> str:
    return "" if count == 0 else "[0-9]" if count == 1 else f"[0-9]{{{count}}}"


@functools.cache
def python_text_rules() -> tuple[str, dict[str, str]]:
    """What str.strip() removes and, per character, the characters whose lower() is that character.

    Read from Python itself, so that a pattern means what features.normalize does; every such
    character lies in the Basic Multilingual Plane (tests/core/test_contract.py checks the other planes).
    """
    space, lower = [], dict[str, list[str]]()
    for c in map(chr, range(0x10000)):
        if c.isspace():
            space.append(c)
        lowered = c.lower()
        if len(lowered) == 1 and lowered != c:
            lower.setdefault(lowered, []).append(c)
    return char_class(space), {k: "".join(v) for k, v in lower.items()}


def spelling_pattern(canonical: str) -> str:
    """Every spelling features.normalize turns into `canonical`: white space around (as str.strip() sees
    it), any case (as str.lower() maps it), a space for an inner "_"."""
    space, lower = python_text_rules()
    parts = []
    for i, ch in enumerate(canonical):
        inner = 0 < i < len(canonical) - 1
        chars = [ch, *lower.get(ch, ""), *(" " if ch == "_" and inner else "")]
        parts.append(char_class(chars) if len(chars) > 1 else escape(ch, in_class=False))
    return f"^{space}*{''.join(parts)}{space}*$"


def char_class(chars: list[str]) -> str:
    return "[" + "".join(escape(c, in_class=True) for c in chars) + "]"


def escape(ch: str, in_class: bool) -> str:
    """One character for a pattern that ECMA 262, Rust's regex and Python's re read alike."""
    if ch.isascii() and ch.isprintable():
        special = "\\^$.|?*+()[]{}" + ("-" if in_class else "")
        return "\\" + ch if ch in special else ch
    return f"\\u{ord(ch):04x}"
