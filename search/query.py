"""The query language a clerk types, parsed into a small AST both backends translate.

Grammar (informal)::

    query   := clause*                      clauses are ANDed
    clause  := ["-"] alt ("OR" alt)*        "-" excludes; OR binds tighter than AND
    alt     := '"' phrase '"' | word "*" | word "~" [1|2] | word | field ":" value
    field   := mrn | type | date | facility

Words are matched case-insensitively. A word that contains punctuation
(``o'brien``, ``12/03``) becomes a phrase of its letter/digit runs, which is
how the index tokenizes page text. :func:`parse_query` never raises anything
but :class:`QuerySyntaxError`, whose message says what to type instead.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, replace
from datetime import date

from search.interface import QuerySyntaxError, QueryTooCostly

FIELDS = ("mrn", "type", "date", "facility")
FUZZY_MIN_LENGTH = 5  # automatic fuzzy fallback applies to words at least this long
MAX_QUERY_LENGTH = 1000
# The cost bound of one query (one user's search must not stall everyone's): words and
# phrases in all, and terms that expand to many index terms (fuzzy~, prefix*). A
# fuzzy distance d needs a word of 2d+1 letters or more ("xyz~2" matches most short
# words of the index). Past a bound the search is refused (422, QueryTooCostly).
MAX_TERMS = 64
MAX_EXPANDING = 8
YEARS = (1800, 2199)  # date: filters outside this are a clerk's typo, not a chart
_WORD_RUN = re.compile(r"[^\W_]+")
_FIELD = re.compile(r"^([A-Za-z]+):(.*)$", re.DOTALL)
_UNCLOSED = 'A quotation mark is not closed: add the closing " or remove it.'


@dataclass(frozen=True)
class Term:
    text: str  # lower case, letters/digits only
    fuzzy: int = 0  # edit distance; 0 = exact


@dataclass(frozen=True)
class Phrase:
    words: tuple[str, ...]  # at least two, lower case


@dataclass(frozen=True)
class Prefix:
    text: str  # lower case, letters/digits only


@dataclass(frozen=True)
class AnyOf:
    options: tuple[Node, ...]  # at least two


Node = Term | Phrase | Prefix | AnyOf


@dataclass(frozen=True)
class DateRange:
    start: date | None  # inclusive; None = open
    end: date | None  # inclusive; None = open


@dataclass(frozen=True)
class Filters:
    mrn: str | None = None  # upper case
    doc_type: str | None = None  # lower case
    facility: str | None = None  # lower case
    dates: DateRange | None = None
    # documents the searcher may not see (restricted charts): out of hits, totals, facets
    exclude: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ParsedQuery:
    must: tuple[Node, ...] = ()
    must_not: tuple[Node, ...] = ()
    filters: Filters = Filters()

    @property
    def has_text(self) -> bool:
        return bool(self.must)

    def fuzzy_fallback(self) -> ParsedQuery | None:
        """The same query with exact words of 5+ letters made fuzzy, or None if none qualify."""
        changed = tuple(_fuzzify(node) for node in self.must)
        if changed == self.must:
            return None
        fallback = replace(self, must=changed)
        if _expanding(fallback) > MAX_EXPANDING:
            return None  # the exact search found nothing; the fuzzy one would cost too much
        return fallback


def _leaves(node: Node) -> list[Node]:
    if isinstance(node, AnyOf):
        return [leaf for option in node.options for leaf in _leaves(option)]
    return [node]


def _expanding(parsed: ParsedQuery) -> int:
    return sum(1 for node in (*parsed.must, *parsed.must_not) for leaf in _leaves(node)
               if isinstance(leaf, Prefix) or (isinstance(leaf, Term) and leaf.fuzzy))


def check_cost(parsed: ParsedQuery) -> ParsedQuery:
    """``parsed`` when it is within the cost bound, else :class:`QueryTooCostly`."""
    leaves = [leaf for node in (*parsed.must, *parsed.must_not) for leaf in _leaves(node)]
    if len(leaves) > MAX_TERMS:
        raise QueryTooCostly(f"The search has {len(leaves)} words and phrases; at most "
                             f"{MAX_TERMS} are searched at once. Narrow it.")
    expanding = _expanding(parsed)
    if expanding > MAX_EXPANDING:
        raise QueryTooCostly(f"The search has {expanding} fuzzy (~) or prefix (*) words; at "
                             f"most {MAX_EXPANDING} are searched at once. Use exact words.")
    return parsed


def _fuzzify(node: Node) -> Node:
    if isinstance(node, Term) and not node.fuzzy and len(node.text) >= FUZZY_MIN_LENGTH:
        return Term(node.text, fuzzy=1 if len(node.text) < 8 else 2)
    if isinstance(node, AnyOf):
        return AnyOf(tuple(_fuzzify(option) for option in node.options))
    return node


# --- tokenizing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    text: str
    quoted: bool = False  # the whole token was a "quoted phrase"
    negated: bool = False


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        negated = text[i] == "-" and i + 1 < n and not text[i + 1].isspace()
        start = i + 1 if negated else i
        token, i = _read_token(text, start)
        tokens.append(replace(token, negated=negated))
    return tokens


def _read_token(text: str, i: int) -> tuple[_Token, int]:
    if text[i] == '"':
        end = text.find('"', i + 1)
        if end < 0:
            raise QuerySyntaxError(_UNCLOSED)
        return _Token(text[i + 1:end], quoted=True), end + 1
    j = i
    while j < len(text) and not text[j].isspace():
        if text[j] == '"':  # field:"quoted value" or a stray quote inside a word
            end = text.find('"', j + 1)
            if end < 0:
                raise QuerySyntaxError(_UNCLOSED)
            j = end + 1
            continue
        j += 1
    return _Token(text[i:j]), j


# --- parsing ------------------------------------------------------------------------------


def parse_query(text: str) -> ParsedQuery:
    """Parse what a clerk typed. Raises :class:`QuerySyntaxError` and nothing else."""
    if not isinstance(text, str):
        raise QuerySyntaxError("The search must be text.")
    if len(text) > MAX_QUERY_LENGTH:
        raise QuerySyntaxError(f"The search is too long (over {MAX_QUERY_LENGTH} characters).")
    if not text.strip():
        raise QuerySyntaxError("Type something to search for.")
    state = _State()
    for group in _or_groups(_tokens(text)):
        state.add_group(group)
    return state.result()


def _or_groups(tokens: list[_Token]) -> list[list[_Token]]:
    """Split into AND-ed groups of OR-ed tokens."""
    groups: list[list[_Token]] = []
    expect_operand = False
    for k, token in enumerate(tokens):
        is_or = token.text == "OR" and not token.quoted and not token.negated
        if is_or:
            if not groups or expect_operand or k == len(tokens) - 1:
                raise QuerySyntaxError("OR needs a word on both sides, e.g. asthma OR copd.")
            expect_operand = True
        elif expect_operand:
            groups[-1].append(token)
            expect_operand = False
        else:
            groups.append([token])
    return groups


class _State:
    def __init__(self) -> None:
        self.must: list[Node] = []
        self.must_not: list[Node] = []
        self.filters = Filters()

    def add_group(self, group: list[_Token]) -> None:
        fields = [t for t in group if not t.quoted and _field_of(t.text)]
        if fields:
            if len(group) > 1:
                raise QuerySyntaxError("OR cannot combine field filters such as mrn: or date:.")
            self.add_filter(group[0])
            return
        if len(group) > 1 and any(t.negated for t in group):
            raise QuerySyntaxError("Put - before a single word, not inside an OR.")
        nodes = [node for node in (_node(t) for t in group) if node is not None]
        if not nodes:
            return
        node = nodes[0] if len(nodes) == 1 else AnyOf(tuple(dict.fromkeys(nodes)))
        if isinstance(node, AnyOf) and len(node.options) == 1:
            node = node.options[0]
        (self.must_not if group[0].negated else self.must).append(node)

    def add_filter(self, token: _Token) -> None:
        name, value = _field_of(token.text) or ("", "")
        if token.negated:
            raise QuerySyntaxError(f"A field filter cannot be excluded: remove the - in -{name}:.")
        value = _unquote(value)
        if not value:
            raise QuerySyntaxError(f"{name}: needs a value, e.g. {_EXAMPLES[name]}.")
        key = "doc_type" if name == "type" else "dates" if name == "date" else name
        if getattr(self.filters, key) is not None:
            raise QuerySyntaxError(f"{name}: is given twice; keep one.")
        parsed: object = {
            "mrn": lambda v: v.upper(),
            "type": lambda v: v.lower(),
            "facility": normalize_key,
            "date": parse_date_range,
        }[name](value)
        self.filters = replace(self.filters, **{key: parsed})

    def result(self) -> ParsedQuery:
        filters = self.filters
        if not self.must and replace(filters, exclude=frozenset()) == Filters():
            if self.must_not:
                raise QuerySyntaxError("Add at least one word to look for besides -exclusions.")
            raise QuerySyntaxError("Type at least one word (letters or digits) to search for.")
        return check_cost(ParsedQuery(tuple(dict.fromkeys(self.must)),
                                      tuple(dict.fromkeys(self.must_not)), filters))


_EXAMPLES = {
    "mrn": "mrn:TST000123",
    "type": "type:discharge",
    "date": "date:2019-01..2019-06",
    "facility": 'facility:"North Clinic"',
}


def normalize_key(value: str) -> str:
    """How facility (and other keyword) values compare: case and spacing do not matter."""
    return " ".join(value.lower().split())


def _field_of(text: str) -> tuple[str, str] | None:
    match = _FIELD.match(text)
    if not match:
        return None
    name = match.group(1).lower()
    if name not in FIELDS:
        raise QuerySyntaxError(
            f"Unknown field {match.group(1)}:. Use mrn:, type:, date: or facility:, "
            f'or put the text in quotes, e.g. "{text}".'
        )
    return name, match.group(2)


def _unquote(value: str) -> str:
    if '"' in value:
        value = value.replace('"', " ")
    return value.strip()


def _node(token: _Token) -> Node | None:
    text = token.text
    if token.quoted:
        return _words_node(_WORD_RUN.findall(text.lower()))
    if '"' in text:
        raise QuerySyntaxError('Put a space before an opening quotation mark: "exact phrase".')
    if text.endswith("*"):
        return _prefix(text)
    if "*" in text:
        raise QuerySyntaxError("* works only at the end of a word, e.g. invoi*.")
    fuzzy = re.fullmatch(r"(.+?)~([12]?)", text)
    if fuzzy:
        return _fuzzy(fuzzy.group(1), fuzzy.group(2))
    if "~" in text:
        raise QuerySyntaxError("~ goes at the end of a word, optionally with 1 or 2: metformin~.")
    return _words_node(_WORD_RUN.findall(text.lower()))


def _words_node(words: list[str]) -> Node | None:
    if not words:
        return None
    if len(words) == 1:
        return Term(words[0])
    return Phrase(tuple(words))


def _prefix(text: str) -> Prefix:
    stem = text.rstrip("*").lower()
    words = _WORD_RUN.findall(stem)
    if len(words) != 1 or words[0] != stem or "*" in stem:
        raise QuerySyntaxError("* works only at the end of a single word, e.g. invoi*.")
    if len(stem) < 2:
        raise QuerySyntaxError("Type at least 2 letters before *.")
    return Prefix(stem)


def _fuzzy(word: str, distance: str) -> Term:
    words = _WORD_RUN.findall(word.lower())
    if len(words) != 1 or words[0] != word.lower():
        raise QuerySyntaxError("~ works only after a single word, e.g. metformin~.")
    fuzzy = int(distance or 1)
    if len(words[0]) < 2 * fuzzy + 1:
        raise QueryTooCostly(f"{word}~{fuzzy} would match almost every short word: a fuzzy "
                             f"distance of {fuzzy} needs a word of {2 * fuzzy + 1} letters "
                             "or more.")
    return Term(words[0], fuzzy=fuzzy)


# --- dates --------------------------------------------------------------------------------

_DATE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")


def parse_date_range(value: str) -> DateRange:
    """``2019``, ``2019-03``, ``2019-03-04``, ``A..B``, ``A..`` or ``..B`` (inclusive)."""
    if ".." not in value:
        start, end = _date_bounds(value)
        return DateRange(start, end)
    left, _, right = value.partition("..")
    if ".." in right:
        raise QuerySyntaxError("A date range has one .., e.g. date:2019-01..2019-06.")
    if not left and not right:
        raise QuerySyntaxError("A date range needs a start or an end, e.g. date:2019-01..2019-06.")
    start = _date_bounds(left)[0] if left else None
    end = _date_bounds(right)[1] if right else None
    if start and end and start > end:
        raise QuerySyntaxError(f"The date range {value} ends before it starts.")
    return DateRange(start, end)


def _date_bounds(text: str) -> tuple[date, date]:
    match = _DATE.match(text.strip())
    if not match:
        raise QuerySyntaxError(
            f"{text!r} is not a date: use YYYY, YYYY-MM or YYYY-MM-DD, e.g. date:2019-03-04."
        )
    year = int(match.group(1))
    if not YEARS[0] <= year <= YEARS[1]:
        raise QuerySyntaxError(f"{text} is out of range: dates go from {YEARS[0]} to "
                               f"{YEARS[1]}.")
    month, day = match.group(2), match.group(3)
    try:
        if month is None:
            return date(year, 1, 1), date(year, 12, 31)
        m = int(month)
        if day is None:
            return date(year, m, 1), date(year, m, calendar.monthrange(year, m)[1])
        exact = date(year, m, int(day))
        return exact, exact
    except (ValueError, calendar.IllegalMonthError) as exc:
        raise QuerySyntaxError(f"{text} is not a real date ({exc}).") from None
