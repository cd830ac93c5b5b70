"""Counting what a stolen document tells about an ID number or a phone.

The attacker of issue 10 holds a database dump or a backup but no key: every
``v1.<kid>.<data>`` token is noise to them, every other value (strings, numbers,
dates, keys of subdocuments) is readable. For one person and one document these
functions count the ID numbers (GB 11643) and mobile numbers that remain
consistent with what that document shows in clear. Our rule: at least
``MIN_CANDIDATES`` each.

What counts as a clue (compared with the person's true values, so the counter
never has to guess which field means what):

- the number itself anywhere in a string (an e-mail ``139…@139.com`` too);
- a mask: a run of 18 (ID) or 11 (phone) characters of digits, ``X`` and ``*``
  with at least one star, agreeing with the true number where it shows a digit;
- for an ID number, the birth date written in a usual form (``1990-03-07``,
  ``19900307``, ``1990/03/07``, ``1990年3月7日``…) or as a stored date, or only its
  year and month (``1990-03``); and the sex (``male``/``female``/``男``/``女``),
  which fixes the parity of the 17th digit.

Counting: the region is 6 digits, the first 1-8; when the document shows none
of them we assume the ~3,500 codes in use (not 800,000 patterns: an attacker
knows the list). Birth dates run from 1900-01-01 to today, the sequence is 3
digits, and the check character (ISO 7064 MOD 11-2) is computed exactly by
counting weighted sums modulo 11.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from bson import ObjectId

MIN_CANDIDATES = 10_000
REGION_CODES_IN_USE = 3_500
EARLIEST = date(1900, 1, 1)

_TOKEN = re.compile(r"v1\.[A-Za-z0-9_-]{1,32}\.[A-Za-z0-9_-]+")
_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_CHECK_CHARS = "10X98765432"
_SEXES = {"male", "female", "男", "女"}


def clear_values(doc: Any) -> Iterator[str]:
    """Every value of a document an attacker reads without the key, as text (ciphertext tokens skipped)."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield str(key)
            yield from clear_values(value)
    elif isinstance(doc, list | tuple):
        for value in doc:
            yield from clear_values(value)
    elif isinstance(doc, str):
        if not _TOKEN.fullmatch(doc):
            yield doc
    elif isinstance(doc, datetime | date):
        yield doc.isoformat()
    elif isinstance(doc, bool) or doc is None or isinstance(doc, ObjectId | bytes):
        return  # bytes: GridFS chunks of re-encoded JPEGs, nothing readable as text
    elif isinstance(doc, int | float):
        yield str(doc)


def _windows(texts: list[str], length: int, alphabet: str) -> Iterator[str]:
    """Every window of ``length`` characters inside runs of ``alphabet``."""
    run = re.compile(f"[{re.escape(alphabet)}]{{{length},}}")
    for text in texts:
        for m in run.finditer(text.upper()):
            for start in range(len(m[0]) - length + 1):
                yield m[0][start:start + length]


def _known_positions(texts: list[str], truth: str, alphabet: str) -> set[int]:
    """The positions of ``truth`` that some mask in ``texts`` shows."""
    known: set[int] = set()
    for window in _windows(texts, len(truth), alphabet):
        if "*" not in window:
            continue
        shown = {i for i, c in enumerate(window) if c != "*"}
        if all(window[i] == truth[i] for i in shown):
            known |= shown
    return known


def _date_forms(birth: date) -> tuple[list[str], list[str]]:
    """How a birth date (full) and its year-month are commonly written."""
    y, m, d = birth.year, birth.month, birth.day
    full = [f"{y}-{m:02d}-{d:02d}", f"{y}{m:02d}{d:02d}", f"{y}/{m:02d}/{d:02d}", f"{y}.{m:02d}.{d:02d}",
            f"{y}年{m}月{d}日", f"{y}年{m:02d}月{d:02d}日", f"{y}/{m}/{d}"]
    month = [f"{y}-{m:02d}", f"{y}年{m}月", f"{y}年{m:02d}月", f"{y}/{m:02d}", f"{y}.{m:02d}"]
    return full, month


def id_candidates(id_number: str, doc: Any, *, today: date | None = None) -> int:
    """How many resident ID numbers agree with everything ``doc`` shows in clear about ``id_number``."""
    truth = id_number.upper()
    texts = list(clear_values(doc))
    if any(truth in t.upper() for t in texts):
        return 1
    known = _known_positions(texts, truth, "0123456789X*")
    birth = date(int(truth[6:10]), int(truth[10:12]), int(truth[12:14]))
    full, month = _date_forms(birth)
    date_known = any(f in t for t in texts for f in full)
    month_known = date_known or any(f in t for t in texts for f in month)
    sex_known = any(t in _SEXES for t in texts)

    def digits(i: int) -> range | tuple[int, ...]:
        if i in known:
            return (int(truth[i]),)
        if i == 16 and sex_known:
            return tuple(d for d in range(10) if d % 2 == int(truth[16]) % 2)
        return range(1, 9) if i == 0 else range(10)

    sums = [1] + [0] * 10  # ways to reach each weighted sum modulo 11
    for i in (*range(6), 14, 15, 16):
        sums = _add(sums, [(d * _WEIGHTS[i]) % 11 for d in digits(i)])
    date_known_digits = [i for i in known if 6 <= i < 14]
    if not (date_known or month_known or date_known_digits):
        dates = [r for _, _, r in _all_dates(today or date.today())]
    else:
        dates = [r for day, text, r in _all_dates(today or date.today())
                 if (not date_known or day == birth)
                 and (not month_known or (day.year, day.month) == (birth.year, birth.month))
                 and all(text[i - 6] == truth[i] for i in date_known_digits)]
    sums = _add(sums, dates)
    if 17 in known:
        count = sum(n for r, n in enumerate(sums) if _CHECK_CHARS[r] == truth[17])
    else:
        count = sum(sums)
    if not known & set(range(6)):
        count = count * REGION_CODES_IN_USE // 800_000  # the codes in use, not every pattern
    return count


@functools.cache
def _all_dates(last: date) -> tuple[tuple[date, str, int], ...]:
    """Every possible birth date: (date, YYYYMMDD, weighted sum of its digits modulo 11)."""
    out = []
    day = EARLIEST
    while day <= last:
        text = day.strftime("%Y%m%d")
        out.append((day, text, sum(int(c) * _WEIGHTS[6 + k] for k, c in enumerate(text)) % 11))
        day += timedelta(days=1)
    return tuple(out)


def _add(sums: list[int], residues: list[int] | range | tuple[int, ...]) -> list[int]:
    """Combine the counts so far with one more independent part of given residues."""
    histogram = [0] * 11
    for r in residues:
        histogram[r % 11] += 1
    return [sum(sums[a] * histogram[(r - a) % 11] for a in range(11)) for r in range(11)]


def phone_candidates(phone: str, doc: Any) -> int:
    """How many mainland mobile numbers (``1[3-9]`` + 9 digits) agree with what ``doc`` shows in clear."""
    texts = list(clear_values(doc))
    if any(phone in t for t in texts):
        return 1
    known = _known_positions(texts, phone, "0123456789*")
    count = 1
    for i in range(1, 11):
        if i not in known:
            count *= 7 if i == 1 else 10
    return count

