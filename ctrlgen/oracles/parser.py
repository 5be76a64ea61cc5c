"""Constituency-parser oracle: benepar's ``ChartParser``, trained from scratch, on ctrlgen's words.

Diffusion-LM judged tree and span control with benepar's pretrained English parser, which cannot be
downloaded here; ctrlgen ships its own benepar model instead (``assets/parser-ptb-sample/``: a
char-LSTM + 4-layer partitioned-transformer ``ChartParser`` trained on the NLTK 10% sample of the
Penn Treebank by ``recipes/train_parser.py``; its README records the recipe and the held-out F1).
Any benepar model file loads the same way (``load_parser(path)``); it is an ordinary
``benepar.Parser(path)`` underneath. A second model, trained on another split of the same sample
(:data:`SECOND_PARSER`, ``assets/parser-ptb-sample-2/``), gives tree and span scores an oracle they do
not depend on alone; :func:`agreement` measures how far two parsers' trees agree.

>>> parser = load_parser()                                          # doctest: +SKIP
>>> parser.parse([["The", "Vaults", "is", "a", "pub", "."]])[0]     # doctest: +SKIP
Tree('TOP', [Tree('S', [Tree('NP', [...]), Tree('VP', [...]), Tree('.', ['.'])])])

**Output convention.** One ``nltk.Tree`` per word list, **rooted at ``TOP``** (benepar's own output
and the form of the gold trees it was trained on), with predicted PTB part-of-speech tags as
preterminals and one leaf per input word, in order. The ``TOP`` wrapper is kept on purpose: the
metrics of :mod:`ctrlgen.oracles.metrics` ignore it (``tree_f1`` and ``constituent_spans``
treat ``(TOP (S …))`` and ``(S …)`` alike, see ``ROOT_LABELS``), :class:`~.targets.TreeTarget`
stores it as ``"(TOP (S …))"``, and a parse whose top span is unlabelled still has a single root.
Use ``tree[0]`` for the sentence node when the root has one child. Leaves equal the input words
except brackets, which are escaped the PTB way (``(`` → ``-LRB-``, ``)`` → ``-RRB-``, also
``[]{}``) so that ``str(tree)`` reads back with ``nltk.Tree.fromstring``. Because the POS tags
are the parser's, EVALB's punctuation deletion (``, : `` '' .``) works on these trees as on gold.

**Input.** Words as ctrlgen produces them (:func:`ctrlgen.text.split_words`), not PTB-escaped.
An empty word list gives ``Tree('TOP', [])``. Sentences are parsed in batches sorted by length.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctrlgen.errors import ConfigError, CtrlgenError, DataError
from ctrlgen.oracles.memo import LabelMemo
from ctrlgen.oracles.metrics import BracketCounts, bracket_counts
from ctrlgen.text.tokenizer import split_words

if TYPE_CHECKING:
    from nltk import Tree

log = logging.getLogger(__name__)

#: The bundled parser (see its README for data, recipe and measured F1).
DEFAULT_PARSER: Path = Path(__file__).resolve().parent.parent / "assets" / "parser-ptb-sample" / "parser.pt"
#: A second, independently trained parser (another seed, so another train/test split of the treebank sample, and
#: 2 layers instead of 4): an oracle the control numbers do not depend on alone (its README: data, F1, agreement).
SECOND_PARSER: Path = DEFAULT_PARSER.parent.parent / "parser-ptb-sample-2" / "parser.pt"
INSTALL_HINT = "pip install benepar (>= 0.2; the char-LSTM models need no transformers download)"
TRACE_TAG = "-NONE-"


class ParserNotFoundError(CtrlgenError):
    """benepar is not installed, or the parser model file is missing or unreadable."""

    default_hint = INSTALL_HINT


# ------------------------------------------------------------------------------- treebank cleanup
def strip_function_tags(label: str) -> str:
    """``NP-SBJ-1`` → ``NP``, ``NP=2`` → ``NP``; labels that start with ``-`` (``-LRB-``,
    ``-NONE-``) are kept whole."""
    if label.startswith("-"):
        return label
    for k, ch in enumerate(label):
        if ch in "-=" and k > 0:
            return label[:k]
    return label


def clean_ptb_tree(tree: Tree, *, top: str = "TOP") -> Tree | None:
    """A Penn Treebank tree as benepar trains on it: ``-NONE-`` traces deleted, constituents left
    empty deleted, function tags and indices stripped from phrasal labels (POS tags are kept as they
    are), the whole wrapped in ``top``. A tree whose root is already ``top`` (or an unlabelled root,
    as in raw ``.mrg`` files) is re-rooted, not wrapped twice. ``None`` when no word is left.
    The input tree is not modified."""
    from nltk import Tree  # lazy: start-up speed

    def clean(node: Any) -> Tree | None:
        if isinstance(node, str):
            return node
        if len(node) == 1 and isinstance(node[0], str):  # preterminal
            return None if node.label() == TRACE_TAG else Tree(node.label(), [node[0]])
        kids = [c for c in (clean(child) for child in node) if c is not None]
        return Tree(strip_function_tags(node.label()), kids) if kids else None

    kids = list(tree) if tree.label() in ("", top) else [tree]
    cleaned = [c for c in (clean(k) for k in kids) if c is not None]
    return Tree(top, cleaned) if cleaned else None


# ------------------------------------------------------------------------------------------ oracle
class ConstituencyParser:
    """The parser oracle: word lists → ``TOP``-rooted ``nltk.Tree`` (see the module doc).

    ``path``: a benepar model file (``torch.save({"config", "state_dict"})``, fp16 weights fine);
    ``batch_size``: sentences per forward pass. Stateless apart from the loaded weights (eval mode).
    Use :func:`load_parser` to share one instance per process.
    """

    def __init__(self, path: str | Path, *, batch_size: int = 64) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}", hint="use e.g. 64")
        self.path = Path(path)
        if not self.path.is_file():
            raise ParserNotFoundError(f"no parser model file at {self.path}",
                                      hint="pass the .pt file written by recipes/train_parser.py, or call "
                                           "load_parser() for the bundled one (reinstall ctrlgen if it is missing)")
        try:
            import benepar  # lazy: start-up speed
        except ImportError as e:
            raise ParserNotFoundError(f"the parser oracle needs benepar, which cannot be imported ({e})") from e
        try:
            self._parser = benepar.Parser(str(self.path), batch_size=batch_size)
        except Exception as e:  # torch.load / state-dict errors vary; all mean "not a usable model"
            raise ParserNotFoundError(f"cannot load parser model {self.path}: {str(e).splitlines()[0]}",
                                      hint="pass a benepar ChartParser file saved as {'config', 'state_dict'} "
                                           "(recipes/train_parser.py writes one)") from e
        self._parser._parser.eval()
        self.batch_size = batch_size
        self.memo: LabelMemo[tuple[str, ...], Tree] = LabelMemo(copy=lambda tree: tree.copy(deep=True))
        log.info("parser oracle: %s (%d labels)", self.path, len(self.labels))

    @property
    def name(self) -> str:
        """The model's folder name (``parser-ptb-sample``): what results record, never a machine path."""
        return self.path.parent.name or self.path.name

    @property
    def labels(self) -> list[str]:
        """Phrase labels the model can predict (unary chains joined by ``::``)."""
        return [lab for lab in self._parser._parser.label_vocab if lab]

    @property
    def max_words(self) -> int:
        """Longest sentence (in words) the encoder accepts."""
        return int(self._parser._parser.config["hparams"]["encoder_max_len"]) - 2

    def parse(self, sentences: Sequence[Sequence[str]], *,
              tags: Sequence[Sequence[str]] | None = None) -> list[Tree]:
        """One ``TOP``-rooted tree per word list, in input order.

        ``tags``: gold PTB tags, one list per sentence; when given they become the preterminals
        instead of the predicted ones (the brackets do not change: benepar does not read tags).

        Without ``tags`` the trees are memoised (:attr:`memo`, keyed by the word tuple): a sentence parsed before
        is not parsed again, the missing unique ones are parsed in one :meth:`parse_uncached` call, and each
        caller gets its own copy of the tree. The memo holds only because a sentence parses the same alone or
        in a batch (``tests/test_report.py`` checks it on ~50 sentences).
        """
        if isinstance(sentences, str) or any(isinstance(s, str) for s in sentences):
            raise ConfigError("sentences must be a list of word lists",
                              hint="pass [['The', 'pub', '.']], or texts to parse_texts()")
        if tags is not None:
            return self.parse_uncached(sentences, tags=tags)
        keys = [tuple(map(str, s)) for s in sentences]
        self._check_lengths(keys)
        return self.memo.get_many(keys, lambda missing: self.parse_uncached(missing))

    def parse_uncached(self, sentences: Sequence[Sequence[str]], *,
                       tags: Sequence[Sequence[str]] | None = None) -> list[Tree]:
        """:meth:`parse` without the memo: every sentence goes through the model, in length-sorted batches."""
        from nltk import Tree  # lazy: start-up speed

        if isinstance(sentences, str) or any(isinstance(s, str) for s in sentences):
            raise ConfigError("sentences must be a list of word lists",
                              hint="pass [['The', 'pub', '.']], or texts to parse_texts()")
        sents = [list(map(str, s)) for s in sentences]
        if tags is not None and (len(tags) != len(sents)
                                 or any(len(t) != len(s) for t, s in zip(tags, sents, strict=False))):
            raise ConfigError("tags must hold one tag list per sentence and one tag per word",
                              hint="pass tags=None to use the parser's predicted tags")
        self._check_lengths(sents)
        out: list[Tree] = [Tree("TOP", []) for _ in sents]
        order = sorted((k for k, s in enumerate(sents) if s), key=lambda k: len(sents[k]))
        for lo in range(0, len(order), self.batch_size):
            idx = order[lo:lo + self.batch_size]
            for k, tree in zip(idx, self._parse_batch([sents[k] for k in idx],
                                                      None if tags is None else [list(tags[k]) for k in idx]),
                               strict=True):
                out[k] = tree
        return out

    __call__ = parse  # a ``Parse`` callable for target_builders.tree_targets / span_targets

    def parse_texts(self, texts: Sequence[str]) -> list[Tree]:
        """Parse each text's :func:`~ctrlgen.text.split_words` words."""
        if isinstance(texts, str):
            raise ConfigError("texts must be a list of strings, got one str",
                              hint=f"wrap it in a list: parse_texts([{texts[:30]!r}])")
        return self.parse([split_words(t) for t in texts])

    def _check_lengths(self, sents: Sequence[Sequence[str]]) -> None:
        too_long = next((k for k, s in enumerate(sents) if len(s) > self.max_words), None)
        if too_long is not None:
            raise ConfigError(f"sentence {too_long} has {len(sents[too_long])} words; the parser takes at most "
                              f"{self.max_words}", hint="split or truncate long sentences before parsing")

    def _parse_batch(self, sents: list[list[str]], tags: list[list[str]] | None) -> list[Tree]:
        import benepar  # lazy: start-up speed

        inputs = [benepar.InputSentence(words=w, tags=None if tags is None else tags[k])
                  for k, w in enumerate(sents)]
        return list(self._parser.parse_sents(inputs))


@functools.lru_cache(maxsize=4)
def _load(path: str, batch_size: int) -> ConstituencyParser:
    return ConstituencyParser(path, batch_size=batch_size)


def load_parser(path: str | Path | None = None, *, batch_size: int = 64) -> ConstituencyParser:
    """The parser oracle, loaded once per process per ``(path, batch_size)`` and shared.

    ``path``: a benepar model file; ``None`` is the bundled :data:`DEFAULT_PARSER`. Raises
    :class:`ParserNotFoundError` (with a hint) when benepar is missing or the file is absent/unreadable.
    """
    return _load(str(Path(path or DEFAULT_PARSER).resolve()), batch_size)


def agreement(trees_a: Sequence[Tree | None], trees_b: Sequence[Tree | None], *,
              punct_from: Sequence[Tree | None] | None = None) -> BracketCounts:
    """Corpus labelled-bracket counts of two parsers' trees of the same sentences, pair by pair.

    Neither side is gold: ``matched`` is the brackets both trees hold, ``pred`` those of ``trees_a`` and ``gold``
    those of ``trees_b``, so the F1 is symmetric (swapping the sides swaps precision and recall). Every word counts
    (as the control task's ``tree_f1``), unless ``punct_from`` is given: then both trees take that tree's
    preterminals first and EVALB's punctuation (``, : `` '' .``) is deleted at the same positions from both (the
    two parsers' own tags may disagree on punctuation, which would leave the trees different lengths). ``None``
    pairs (empty sentences) are skipped; trees over different numbers of words raise :class:`DataError`.
    """
    if len(trees_a) != len(trees_b) or (punct_from is not None and len(punct_from) != len(trees_a)):
        raise DataError(f"got {len(trees_a)} and {len(trees_b)} trees", hint="parse the same sentences with both")
    total = BracketCounts()
    for k, (a, b) in enumerate(zip(trees_a, trees_b, strict=True)):
        if a is None or b is None:
            continue
        if punct_from is None:
            total = total + bracket_counts(a, b, punct_tags=())
        else:
            tags = [tag for _, tag in (punct_from[k] or a).pos()]
            total = total + bracket_counts(_retag(a, tags), _retag(b, tags))
    return total


def _retag(tree: Tree, tags: Sequence[str]) -> Tree:
    """A copy of ``tree`` whose preterminals are ``tags`` (same brackets)."""
    out = tree.copy(deep=True)
    spots = [pos[:-1] for pos in out.treepositions("leaves")]
    if len(spots) != len(tags):
        raise DataError(f"the trees have {len(spots)} and {len(tags)} words", hint="parse the same word lists")
    for spot, tag in zip(spots, tags, strict=True):
        out[spot].set_label(tag)
    return out
