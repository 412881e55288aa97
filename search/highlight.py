"""Which words on a page a query matched: the snippet and the word boxes to light up.

Engine highlighters only see some query kinds (Tantivy's SnippetGenerator marks
nothing for fuzzy, prefix or phrase queries on another field — measured with
tantivy 0.27), so matching is decided here, from the parsed query, the same way
for every backend. Page text is untrusted OCR output: the \\x02/\\x03 markers are
removed from it before marking, so a page cannot forge a highlight.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence

from search.query import AnyOf, Node, ParsedQuery, Phrase, Prefix, Term

MARK_START, MARK_END = "\x02", "\x03"
SNIPPET_WORDS = 30
_WORD_RUN = re.compile(r"[^\W_]+")
_WORD_SPLIT = re.compile(r"([^\W_]+)")  # split() keeps the words between the separators
_ASCII_WORD_SPLIT = re.compile(r"([A-Za-z0-9]+)")  # the same on ASCII text, ~1.7x faster
_MARKS = re.compile("[\x02\x03]")

Stemmer = Callable[[str], str]


def _same(word: str) -> str:
    return word


class WordMatcher:
    """Decides which token positions of a page a parsed query matched."""

    def __init__(self, query: ParsedQuery, stem: Stemmer = _same) -> None:
        self._stem = stem
        self._exact: set[str] = set()
        self._stems: set[str] = set()
        self._fuzzy: list[tuple[str, int, set[str]]] = []
        self._prefixes: list[str] = []
        self._phrases: list[tuple[str, ...]] = []
        self._seen: set[str] = set()  # pages repeat words: decide each word once per search
        self._matched: set[str] = set()
        for node in query.must:
            self._add(node)
        self._stem_heads = {stem[:2] for stem in self._stems}

    def _add(self, node: Node) -> None:
        if isinstance(node, AnyOf):
            for option in node.options:
                self._add(option)
        elif isinstance(node, Term) and node.fuzzy:
            self._fuzzy.append((node.text, node.fuzzy, set(node.text)))
        elif isinstance(node, Term):
            self._exact.add(node.text)
            self._stems.add(self._stem(node.text))
        elif isinstance(node, Prefix):
            self._prefixes.append(node.text)
        elif isinstance(node, Phrase):
            self._phrases.append(node.words)

    def _decide(self, words: set[str]) -> set[str]:
        """The words of ``words`` the query matches (set operations and C-level tests first:
        a page brings ~200 distinct words, and this runs for every shown page)."""
        found = words & self._exact
        rest = words - found if found else words
        if self._stem_heads:
            # stemmers rewrite endings only: a word can share a stem only if it shares its head
            heads = self._stem_heads
            found.update(w for w in rest if w[:2] in heads and self._stem(w) in self._stems)
        if self._prefixes:
            prefixes = tuple(self._prefixes)
            found.update(w for w in rest if w.startswith(prefixes))
        for target, distance, target_letters in self._fuzzy:
            # each edit changes the length by at most one and brings in at most one new
            # letter: two cheap tests before the DP
            size = len(target)
            found.update(w for w in rest if abs(len(w) - size) <= distance
                         and len(set(w) - target_letters) <= distance
                         and within_distance(w, target, distance))
        return found

    def positions(self, words: Sequence[str]) -> set[int]:
        """Indices into ``words`` (lower case) that the query matched."""
        distinct = set(words)
        new = distinct - self._seen
        if new:
            self._matched |= self._decide(new)
            self._seen |= new
        hits: set[int] = set()
        for word in distinct & self._matched:
            hits.update(_indices(words, word))
        for phrase in self._phrases:
            if phrase[0] in distinct:
                size, wanted = len(phrase), list(phrase)
                for i in _indices(words, phrase[0]):
                    if words[i:i + size] == wanted:
                        hits.update(range(i, i + size))
        return hits


def _indices(words: Sequence[str], word: str) -> Iterator[int]:
    """Where ``word`` (known to be present) occurs, found by C-level ``list.index`` scans."""
    i = words.index(word)
    while True:
        yield i
        try:
            i = words.index(word, i + 1)
        except ValueError:
            return


def snippet(text: str, matcher: WordMatcher, width: int = SNIPPET_WORDS) -> str:
    """A window of about ``width`` words around the densest matches, marked \\x02...\\x03."""
    if MARK_START in text or MARK_END in text:
        text = _MARKS.sub(" ", text)
    # separator, word, separator, ..., word, separator
    parts = (_ASCII_WORD_SPLIT if text.isascii() else _WORD_SPLIT).split(text)
    if len(parts) == 1:
        return ""
    words = _lowered(parts[1::2])
    hits = matcher.positions(words)
    first = _best_window(sorted(hits), width, len(words))
    last = min(first + width, len(words))
    out: list[str] = ["… " if first > 0 else ""]
    for i in range(first, last):
        if i > first:
            out.append(parts[2 * i])
        word = parts[2 * i + 1]
        out.append(f"{MARK_START}{word}{MARK_END}" if i in hits else word)
    out.append(" …" if last < len(words) else parts[-1])
    return " ".join("".join(out).split())  # runs of white space folded to one space


def _lowered(words: list[str]) -> list[str]:
    """Each word lower-cased, in one C-level pass (lower-casing never makes a space)."""
    return " ".join(words).lower().split(" ")


_MARKED = re.compile("\x02([^\x02\x03]*)\x03")


def well_formed(marked: str) -> bool:
    """Every mark wraps exactly whole words: an engine highlight safe to show as is."""
    spans = list(_MARKED.finditer(marked))
    if not spans or marked.count(MARK_START) != len(spans) or marked.count(MARK_END) != len(spans):
        return False
    for m in spans:
        before, after = marked[m.start() - 1:m.start()], marked[m.end():m.end() + 1]
        if not _WORD_RUN.fullmatch(m.group(1).replace(" ", "")) or m.group(1) != m.group(1).strip():
            return False
        if _WORD_RUN.fullmatch(before or " ") or _WORD_RUN.fullmatch(after or " "):
            return False
    return True


def _best_window(hits: list[int], width: int, count: int) -> int:
    """First token index of the window of ``width`` tokens holding the most hits."""
    if not hits:
        return 0
    best_start, best_count, j = hits[0], 0, 0
    for i, start in enumerate(hits):
        while j < len(hits) and hits[j] < start + width:
            j += 1
        if j - i > best_count:
            best_start, best_count = start, j - i
    lead = min(5, width // 4)  # a little context before the first match
    return max(0, min(best_start - lead, count - width))


def matched_box_indices(texts: Sequence[str], matcher: WordMatcher) -> list[int]:
    """Indices of the box texts holding a matched word, in page order (phrases matched
    across boxes): a page has ~250 boxes, so the words of each are found with one
    C-level ``findall``."""
    owner: list[int] = []
    words: list[str] = []
    for index, text in enumerate(texts):
        found = _WORD_RUN.findall(text)
        if len(found) == 1:  # nearly always: an OCR box holds one word
            owner.append(index)
            words.append(found[0].lower())
        elif found:
            owner.extend([index] * len(found))
            words.extend(_lowered(found))
    return sorted({owner[i] for i in matcher.positions(words)})


def within_distance(word: str, target: str, limit: int) -> bool:
    """Optimal-string-alignment distance (a swap of neighbours costs 1) is <= ``limit``."""
    if abs(len(word) - len(target)) > limit:
        return False
    prev2: list[int] = []
    prev = list(range(len(target) + 1))
    for i, a in enumerate(word, 1):
        row = [i] + [0] * len(target)
        for j, b in enumerate(target, 1):
            cost = 0 if a == b else 1
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a == target[j - 2] and word[i - 2] == b:
                row[j] = min(row[j], prev2[j - 2] + 1)
        if min(row) > limit:
            return False
        prev2, prev = prev, row
    return prev[-1] <= limit
