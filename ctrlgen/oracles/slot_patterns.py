"""How E2E slot values are phrased: one regular expression per known ``(field, value)``, for the slot check.

:mod:`ctrlgen.oracles.slots` decides *where* a phrasing counts (not inside a landmark, not denied, …); this module
says *what* the phrasings are, on text normalised by :func:`ctrlgen.oracles.slots.normalise` (lower case,
``family - friendly`` → ``family-friendly``, ``£ 20`` → ``£20``, punctuation spaced off).
"""

from __future__ import annotations

NEAR_CUES = ("near", "by", "beside", "to", "opposite", "from", "nearby", "at", "alongside", "around")
# "close to", "next to", "adjacent to", "not far from", "located at" all end in a cue word; "to" / "at" alone
# ("went to", "at a low price") never precede a capitalised value in this domain, so the rule stays tight by
# also requiring the value to start with a capital where the text has one.

_NUM = {"1": "one", "2": "two", "3": "three", "4": "four", "5": "five"}


def _rating(n: str) -> str:
    """``n out of 5``, ``n out 5``, ``n of 5 stars``, ``n stars``; never the 5 of ``1 out of 5 stars`` (nor a bare
    ``a rating of 5``)."""
    w = _NUM[n]
    return (rf"\b(?:{n}|{w}) out (?:of )?(?:5|five)\b|\b(?:{n}|{w}) of (?:5|five)[- ]stars?\b"
            rf"|{_NOT_DENOMINATOR}\b(?:{n}|{w})[- ]stars?\b")


#: Lookbehinds: the number is not the "5" of "1 out of 5 stars", "1 out 5 stars", "three of five stars", "1-5 stars".
_NOT_DENOMINATOR = "(?<![-\\d])(?<!out of )(?<!out )" + "".join(f"(?<!{x} of )" for x in [*_NUM, *_NUM.values()])


def _any(*alternatives: str) -> str:
    return "|".join(alternatives)


_PRICE = r"(?:price|prices|priced|pricing|cost|costs)"
_RATED = r"(?:rating|ratings|rated|review|reviews|reviewed)"
_FF = r"(?:family|families|kid|kids|child|children|children's)"
_IS = r"(?: range)? (?:is |are |as |of )?"
#: What a negation must reach to deny family-friendliness: "(not) family-friendly", "(not a) family place", "(not)
#: families ." — not a bare "family" ("if your kids not family want fast food"; "non-family" alone is enough).
_FF_PLACE = r"(?:place|restaurant|pub|venue|establishment|eatery|spot|coffee shop|atmosphere|environment|setting)"
_FF_THING = rf"{_FF}(?:[- ]?(?:friendly|friends?|oriented|orientated)\b| ?[.,;!?]| {_FF_PLACE}\b)"
FF_NO = _any(
    rf"(?:\bnot|\bnon|\bnever|n't|\bno|\black(?:s|ing)?)(?: very| a| an| really| that| so| too)*(?:[- ]{_FF_THING}"
    rf"|-friendly)", rf"\bnon[- ]{_FF}\b",
    rf"\b{_FF}[- ]friendly(?: ,| :)? no(?: [.,;!?]|$)", rf"\b{_FF} (?:are |is )?not (?:welcome|allowed|permitted)\b",
    r"\bno (?:kids|children|families|child)\b", r"\badults? only\b", r"\bfor adults\b",
    rf"\b{_FF}[- ]free\b", rf"\b{_FF} should not\b",
    rf"\bnot (?:suitable|good|ideal|welcoming|friendly|for|allowed)\b[^.]{{0,20}}{_FF}",
    rf"\b(?:doesn't|does not|don't|do not) (?:allow|welcome|cater|accept)\b[^.]{{0,12}}{_FF}",
    rf"\b{_FF}(?:[- ]friendly)? (?:are|is) not\b", r"\bunfriendly\b")
#: Words that contradict a "family friendly" right after them ("an adult family friendly pub"): neither yes nor no.
ADULT = frozenset({"adult", "adults", "adults-only", "adult-only", "grown-up", "grown-ups"})
FF_YES = _any(
    rf"\b{_FF}[- ]?(?:friendly|oriented|orientated)\b", rf"\bfriendly (?:to|for|towards) {_FF}",
    rf"\b(?:welcomes?|allows?|accepts?|caters? (?:to|for)|suitable for|good for|great for|ideal for|perfect for) "
    rf"(?:the )?(?:whole )?{_FF}\b",
    rf"\b{_FF} (?:are|is) welcome\b")
_CHEAP = _any(r"\bcheap(?:ly|er)?\b", r"\binexpensive\b", r"\blow[- ]?pric")
#: The £ may be missing ("less than 20 euros"); never the first number of a range ("under £20-25").
_UNDER_20 = _any(r"\b(?:less than|under|below|lower than|up to|within) £?20\b(?!-)", r"£20 or (?:less|under)")
_OVER_30 = _any(r"\b(?:more than|over|above|greater than|higher than|upwards of) £?30\b(?!-)", r"\bat least £30\b",
                r"£30 (?:or|and) (?:more|over|above|up)", r"£30\+")

PATTERNS: dict[tuple[str, str], str] = {
    ("area", "riverside"): _any(r"\briver ?side\b", r"\b(?:by|near|on|along|beside|next to|close to|at) the river\b",
                                r"\bwaterfront\b", r"\briver\b"),
    ("area", "city centre"): _any(r"\b(?:city|town) cent(?:re|er)\b", r"\bcent(?:re|er) of (?:the )?(?:city|town)\b",
                                  r"\bcentral\b", r"\bdowntown\b"),
    ("priceRange", "cheap"): _any(_CHEAP, r"\baffordabl[ey]\b", rf"\blow[- ]?{_PRICE}", rf"\b{_PRICE}{_IS}low\b",
                                  r"\blow (?:price|cost)", r"\bbudget\b", _UNDER_20),
    ("priceRange", "moderate"): _any(rf"\bmoderate(?:ly)?[- ]?{_PRICE}", r"\bmoderate (?:price|cost)",
                                     rf"\b{_PRICE}{_IS}moderate\b", rf"\bmid[- ]?(?:range|{_PRICE})",
                                     rf"\breasonabl[ey](?:[- ]{_PRICE})?", rf"\baverage[- ]?{_PRICE}"),
    ("priceRange", "high"): _any(rf"\bhigh(?:ly)?[- ]?{_PRICE}", r"\bhigh (?:price|cost)",
                                 rf"\b{_PRICE}{_IS}(?:high|expensive)\b", r"\bexpensive\b", r"\bprice?y\b",
                                 r"\bhigh[- ]end\b", r"\bcostly\b", _OVER_30),
    ("priceRange", "less than £20"): _any(_UNDER_20, _CHEAP),
    ("priceRange", "£20-25"): _any(r"£20 ?(?:-|to|and) ?£?25\b", r"\bbetween £20 and £?25\b"),
    ("priceRange", "more than £30"): _any(_OVER_30, r"\bexpensive\b", r"\bhigh(?:ly)?[- ]?pric"),
    ("customer rating", "1 out of 5"): _rating("1"),
    ("customer rating", "3 out of 5"): _rating("3"),
    ("customer rating", "5 out of 5"): _rating("5"),
    ("customer rating", "high"): _any(rf"\bhigh(?:ly)?(?: customer)?[- ]{_RATED}", rf"\b{_RATED}{_IS}high(?:ly)?\b",
                                      r"\b(?:well|highly|top)[- ]rated\b", rf"\bexcellent (?:customer )?{_RATED}"),
    ("customer rating", "average"): _any(rf"\baverage(?: customer)?[- ]{_RATED}", rf"\b{_RATED}{_IS}(?:an )?average\b",
                                         r"\baverage(?:ly)?[- ]rated\b", r"\bmediocre\b"),
    ("customer rating", "low"): _any(rf"\b(?:low|poor|bad)(?:ly)?(?: customer)?[- ]{_RATED}",
                                     rf"\b{_RATED}{_IS}(?:low|poor)(?:ly)?\b", r"\b(?:poorly|badly|low)[- ]rated\b"),
    ("eatType", "coffee shop"): r"\bcoffee[- ]?shop\b",
    ("eatType", "pub"): r"\bpubs?\b",
    ("eatType", "restaurant"): r"\brestaurants?\b",
}

#: Values of one field that a text cannot both say; a value conflicts with every other value of its field except
#: the ones in its group ("cheap" is a fair way to say "less than £20").
EXCLUSIVE: dict[str, tuple[frozenset[str], ...]] = {
    "priceRange": (frozenset({"cheap", "less than £20"}), frozenset({"moderate", "£20-25"}),
                   frozenset({"high", "more than £30"})),
    "customer rating": (frozenset({"low", "1 out of 5"}), frozenset({"average", "3 out of 5"}),
                        frozenset({"high", "5 out of 5"})),
    "area": (frozenset({"riverside"}), frozenset({"city centre"})),
    "food": tuple(frozenset({v}) for v in ("Chinese", "English", "Fast food", "French", "Italian", "Japanese",
                                           "Indian")),
    "eatType": (frozenset({"coffee shop"}), frozenset({"pub"}), frozenset({"restaurant"})),
}

#: Words that tie a phrase to its field on their own: a price, a rating, a number of stars.
FIELD_CUE = rf"£|\d|\bout of\b|\bstars?\b|{_PRICE}|{_RATED}"
