"""Hypothesis strategies for customer records over the whole input domain, derived from the model's contract.

Valid values come from the model's vocabulary and its accepted ranges (churn.core.contract), never from a
hand-written list; around them: every spelling, padding in any white space Python knows, negative,
huge, tiny, near every bound, blank, null, wrong types, numerals of every kind (signs, leading zeros,
exponents, "_", other digits, inf/nan, hex), unknown categories and non-ASCII text.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

from hypothesis import strategies as st

from churn.core import features, grammar
from churn.core.contract import CategoryField, Contract, FlagField, NumberField

PYTHON_SPACE = [chr(c) for c in range(0x10000) if chr(c).isspace()]
OTHER_DIGITS = ["\u0664", "\u06f4", "\u0967", "\uff14", "\U0001d7d2", "\u00b2", "\u2164"]  # Arabic-Indic, ...
ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.lists(st.integers(-2, 2), max_size=2),
    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 2), max_size=2),
    st.text(max_size=6),
    st.sampled_from(["", " ", "\u00a0", "x", "null", "NaN", "é", "\u212a"]),
)


@functools.cache
def padding() -> st.SearchStrategy[str]:
    return st.text(alphabet=st.sampled_from([*grammar.ASCII_SPACE, *PYTHON_SPACE]), max_size=2)


@st.composite
def respelled(draw: Any, canonical: str, near_misses: bool = True) -> str:
    """A spelling of a canonical value: per-character case (the Kelvin sign for k too), spaces for inner
    "_", padding; with near_misses, sometimes one that is not (a dotted İ, an edge "_", a letter dropped)."""
    out = []
    for i, ch in enumerate(canonical):
        inner = 0 < i < len(canonical) - 1
        choices = [ch, ch.upper()] + (["\u212a"] if ch == "k" else []) + ([" "] if ch == "_" and inner else [])
        out.append(draw(st.sampled_from(choices)))
    text = "".join(out)
    if near_misses:
        text = draw(st.sampled_from([text, text, text, text.replace("i", "\u0130"), text[:-1], " _" + text]))
    return draw(padding()) + text + draw(padding())


@functools.cache
def interesting_numbers(spec: NumberField | FlagField) -> st.SearchStrategy[float]:
    """Values at and around every bound of a field (accepted, training), and far beyond."""
    bounds = [*spec.accepted, *spec.training] if isinstance(spec, NumberField) else [float(v) for v in spec.values]
    steps = [0.0, 1e-9, 0.01, 0.5, 1.0]
    near = sorted({b + sign * s for b in bounds for s in steps for sign in (-1, 1)})
    extremes = [-0.0, -1.0, 1e-300, 5e-324, 1e6, 1e9, 1e308, -1e308, math.inf, -math.inf, math.nan]
    return st.sampled_from(near + extremes)


@functools.cache
def numbers(spec: NumberField | FlagField) -> st.SearchStrategy[Any]:
    """JSON numbers (floats, integers of any size) over the whole domain, biased to the field's bounds."""
    if isinstance(spec, NumberField):
        low, high = spec.accepted
        inside: st.SearchStrategy[Any] = st.floats(low, high) | st.integers(int(low), int(high))
    else:
        inside = st.sampled_from(spec.values)
    return st.one_of(
        inside,
        inside,
        interesting_numbers(spec),
        st.floats(),
        st.integers(),
        st.integers(min_value=2**63 - 2, max_value=2**1100),
    )


INTEGER_TEXT = re.compile(r"-?[0-9]+")


@functools.cache
def json_number_texts() -> st.SearchStrategy[str]:
    """A JSON number as text, from the whole domain JSON allows (RFC 8259 sets no limit on size or precision),
    and the literals Python and pandas write: finite doubles, -0, integers beyond 64 bits, beyond a double
    (309 digits and more, past Python's 4,300-digit conversion limit too), exponents past a double (1e309),
    long mantissas that round to an ordinary double, NaN and +-Infinity."""
    digits = st.integers(1, 6000).map(lambda n: "9" * n) | st.integers(300, 5000).map(lambda n: "1" + "0" * n)
    sign = st.sampled_from(["", "-"])
    return st.one_of(
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
        st.integers().map(str),
        st.integers(2**63 - 2, 2**1100).map(str),
        st.integers(-(2**64) - 2, -(2**63) + 2).map(str),
        st.tuples(sign, digits).map("".join),
        st.tuples(
            sign, st.sampled_from(["1", "9.9", "2"]), st.sampled_from(["e", "E", "e+"]), st.integers(300, 99999)
        ).map(lambda t: f"{t[0]}{t[1]}{t[2]}{t[3]}"),
        st.integers(300, 2000)
        .map(lambda n: st.sampled_from([f"1{'0' * n}e-{n}", f"0.{'0' * n}1e{n}", f"1.{'1' * n}"]))
        .flatmap(lambda s: s),
        st.sampled_from(["0", "-0", "-0.0", "0e0", "1e-999", "1", "1.0", "1e0", "41", "NaN", "Infinity", "-Infinity"]),
    )


def number_read(text: str) -> Any:
    """What a JSON number's text means to the service (docs/api.md): an integer within 64 bits as that
    integer, any other number as the nearest double (an infinity beyond the largest), NaN as NaN."""
    if INTEGER_TEXT.fullmatch(text) and len(text) <= 20 and -(2**63) <= int(text) < 2**64:
        return int(text)
    return float(text)


def python_number(text: str) -> Any:
    """The Python number a JSON number's text writes: an integer exactly (however many digits: built by
    arithmetic, which Python's 4,300-digit conversion limit does not bound), any other as a float."""
    if not INTEGER_TEXT.fullmatch(text):
        return float(text)
    magnitude = 0
    for start in range(text.startswith("-"), len(text), 1000):
        chunk = text[start : start + 1000]
        magnitude = magnitude * 10 ** len(chunk) + int(chunk)
    return -magnitude if text.startswith("-") else magnitude


@st.composite
def numeral(draw: Any, value: float) -> str:
    """A numeric string for value, valid or nearly so: signs, leading zeros, fractions, padding, exponents,
    "_", digits of other scripts, or the text float() would also read (inf, nan, hex)."""
    if not math.isfinite(value):
        return draw(st.sampled_from(["inf", "-inf", "nan", "Infinity", " NaN "]))
    plain = draw(st.sampled_from([repr(abs(value)), f"{abs(value):.2f}", str(int(abs(value))), f"{abs(value):.0f}."]))
    if "e" in plain:
        plain = f"{abs(value):f}"
    sign = "-" if math.copysign(1, value) < 0 else draw(st.sampled_from(["", "", "+"]))
    text = sign + draw(st.sampled_from(["", "", "0", "000"])) + plain
    broken = draw(
        st.sampled_from(
            [
                text,
                text,
                text,
                text.lstrip("+-0") or "0",
                f"{value:e}",
                text.replace("1", "_1", 1),
                text.replace("4", draw(st.sampled_from(OTHER_DIGITS))),
                text.replace(".", ","),
                hex(int(abs(value))),
                text + "x",
            ]
        )
    )
    return draw(padding()) + broken + draw(padding())


@functools.cache
def numerals(spec: NumberField | FlagField) -> st.SearchStrategy[str]:
    return st.one_of(
        numbers(spec)
        .filter(lambda v: isinstance(v, float | int) and not isinstance(v, bool))
        .flatmap(lambda v: numeral(float(v) if abs(v) < 1e300 else math.inf)),
        st.from_regex(grammar.NUMERAL, fullmatch=True).map(lambda t: t[:40]),
        json_number_texts(),  # a numeral beyond a double is read as an infinity, as a JSON number is
        padding(),  # blank
    )


@functools.cache
def plain_values(spec: CategoryField | FlagField | NumberField) -> st.SearchStrategy[Any]:
    """Valid values as a clean batch holds them: canonical categories, JSON numbers."""
    if isinstance(spec, CategoryField):
        return st.sampled_from(spec.values)
    if isinstance(spec, FlagField):
        return st.sampled_from(spec.values)
    low, high = spec.accepted
    return st.one_of(st.floats(*spec.training), st.floats(low, high), st.integers(int(low), int(high)))


@functools.cache
def valid_values(spec: CategoryField | FlagField | NumberField) -> st.SearchStrategy[Any]:
    """Values the field accepts, in every form: canonical, respelled, as numbers or as numeric strings."""
    if isinstance(spec, CategoryField):
        canonical = st.sampled_from(spec.values)
        return st.one_of(canonical, canonical, canonical.flatmap(lambda v: respelled(v, near_misses=False)))
    if isinstance(spec, FlagField):
        flags = st.sampled_from(spec.values)
        return st.one_of(flags, flags, flags.map(float), flags.map(lambda v: f" +0{v}.0 "))
    low, high = spec.accepted
    inside = st.one_of(
        st.floats(low, high),
        st.floats(*spec.training),
        st.integers(int(low), int(high)),
        interesting_numbers(spec).filter(lambda v: low <= v <= high),
    )
    return st.one_of(inside, inside, inside.map(lambda v: f"{v:.2f}"), inside.map(lambda v: f" {v!r} "))


@functools.cache
def values(spec: CategoryField | FlagField | NumberField, *, text_only: bool = False) -> st.SearchStrategy[Any]:
    """Any value of a field: mostly valid (so that rows get scored), and every kind of invalid one."""
    if isinstance(spec, CategoryField):
        canonical = st.sampled_from(spec.values)
        texts = st.one_of(canonical, canonical, canonical.flatmap(respelled), st.text(max_size=6))
        return texts if text_only else st.one_of(texts, ANYTHING)
    strings = st.one_of(numerals(spec), st.text(max_size=4))
    if text_only:
        return strings
    valid = numbers(spec)
    return st.one_of(valid, valid, strings, ANYTHING)


@functools.cache
def customerids(text_only: bool = False) -> st.SearchStrategy[Any]:
    texts = st.one_of(st.text(max_size=8), st.just("x" * 200), st.just("é" * 201), st.just("=HYPERLINK(x)"))
    if text_only:
        return texts
    integral = st.integers(-(2**64), 2**65) | st.integers(-(2**63), 2**64 - 1).map(float)
    return st.one_of(st.none(), texts, st.integers(), integral, st.floats(), ANYTHING)


@functools.cache
def crm_key(name: str) -> st.SearchStrategy[str]:
    """A spelling of a field name as an export might give it."""
    return st.sampled_from([name, name.upper(), name.capitalize(), f" {name} "])


@st.composite
def records(draw: Any, contract: Contract, *, canonical_keys: bool = False) -> Any:
    """A customer record over the whole domain: mostly valid (in any spelling) with a few fields broken,
    missing or repeated under another spelling, extra fields; sometimes anything at all, or not an object."""
    kind = draw(st.sampled_from(["valid", "valid", "valid", "broken", "broken", "broken", "wild", "other"]))
    if kind == "other":
        return draw(
            st.one_of(
                st.none(), st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=2),
                st.sampled_from([{}, {"note": 1}, {"customerid": "c-0"}]),
            )
        )  # fmt: skip
    broken = set(draw(st.lists(st.sampled_from(list(contract.fields)), min_size=1, max_size=3)))
    canonical_keys = canonical_keys or draw(st.booleans())  # the model's own names: the batch's column path
    valid = plain_values if canonical_keys and draw(st.booleans()) else valid_values
    record: dict[str, Any] = {}
    if draw(st.booleans()):
        record[features.ID_FIELD] = draw(customerids())
    for name, spec in contract.fields.items():
        wrong = kind == "wild" or (kind == "broken" and name in broken)
        if wrong and draw(st.integers(0, 9)) == 0:
            continue  # missing
        key = name if canonical_keys else draw(crm_key(name))
        record[key] = draw(values(spec) if wrong else valid(spec))
        if wrong and not canonical_keys and draw(st.integers(0, 4)) == 0:  # a second spelling, same value or not
            record[f"{name.upper()} "] = draw(st.sampled_from([record[key], draw(values(spec))]))
    if draw(st.booleans()):
        record["churn"] = draw(st.sampled_from(["Yes", "No", 1]))
    return record


UTF8_SPELLINGS = ("utf-8", "utf8")
HTTP_SPACE = ["", " ", "\t", "  "]  # what a lenient reader drops around a parameter's parts (RFC 9110's OWS)
OTHER_CHARSETS = ["latin-1", "iso-8859-1", "us-ascii", "utf-16", "utf-16le", "utf-8-sig", "utf_8", "utf 8", "u8",
                  "utf-8,latin1", "utf-8\u00a0", "\u00a0utf-8", "utf\u00ad-8", "\u00fctf-8", "UTF-\u00b8",
                  "'utf-8'"]  # fmt: skip
# A token as a header can carry it (WSGI strings are latin-1): no space, quote, backslash, ";" or "=".
TOKEN = st.text(st.characters(min_codepoint=0x21, max_codepoint=0xFF, exclude_characters=';"\\=\x7f'), max_size=8)
# Other parameters, which say nothing of the charset, a quoted "charset=" inside one included.
OTHER_PARAMETERS = ["version=2", 'foo="a;charset=latin-1"', "q=0.5", "x"]


def any_case(draw: Any, text: str) -> str:
    return "".join(draw(st.sampled_from([c.lower(), c.upper()])) for c in text)


@st.composite
def charset_parameter(draw: Any) -> tuple[str, bool]:
    """One charset parameter as a client may write it, and whether it declares UTF-8: a UTF-8 spelling in
    any case, bare or in double quotes (with a needless backslash escape or not), with spaces around
    its parts; or empty, another charset, a look-alike (non-ASCII, a no-break space), any token."""
    kind = draw(st.sampled_from(["utf-8", "utf-8", "empty", "other", "token"]))
    if kind == "utf-8":
        value = any_case(draw, draw(st.sampled_from(UTF8_SPELLINGS)))
    else:
        value = {"empty": "", "other": draw(st.sampled_from(OTHER_CHARSETS)), "token": draw(TOKEN)}[kind]
    utf8 = value.isascii() and value.lower() in UTF8_SPELLINGS
    quoting = draw(st.sampled_from(["none", "double", "escaped", "padded", "single"]))
    if quoting == "double":
        value = f'"{value}"'
    elif quoting == "escaped" and value:  # a quoted-pair stands for its character: "u\tf-8" is "utf-8"
        value = f'"\\{value[0]}{value[1:]}"'
    elif quoting == "padded":  # spaces inside the quotes are the value's own
        value, utf8 = f'" {value} "', False
    elif quoting == "single":  # not HTTP quoting: the quotes are part of the value
        value, utf8 = f"'{value}'", False
    spaces = [draw(st.sampled_from(HTTP_SPACE)) for _ in range(4)]
    name = any_case(draw, "charset")
    return f";{spaces[0]}{name}{spaces[1]}={spaces[2]}{value}{spaces[3]}", utf8


@st.composite
def json_content_types(draw: Any) -> tuple[str, bool]:
    """A Content-Type of JSON (the media type in any case) with charset parameters and others, and whether
    it declares UTF-8: when every charset parameter does (none at all included)."""
    media = any_case(draw, "application/json")
    charsets = draw(st.lists(charset_parameter(), max_size=2))
    others = [";" + p for p in draw(st.lists(st.sampled_from(OTHER_PARAMETERS), max_size=1))]
    parts = draw(st.permutations([text for text, _ in charsets] + others))
    return media + "".join(parts), all(utf8 for _, utf8 in charsets)
