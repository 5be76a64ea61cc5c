"""Train the constituency-parser oracle: benepar's ``ChartParser`` from scratch on the NLTK treebank sample.

Data: NLTK's 10% sample of the Penn Treebank (3,914 WSJ sentences in 199 files,
``corpora/treebank.zip`` under an NLTK data root: ``--nltk-data``, else ``$NLTK_DATA``, else
``$CTRLGEN_DATA/nltk_data``). Trees are cleaned with :func:`ctrlgen.oracles.parser.clean_ptb_tree`
(``-NONE-`` traces and constituents left empty removed, function tags stripped, wrapped in ``TOP``).

Split (deterministic, ``--seed``): the 199 *files* are shuffled with ``random.Random(seed)``; whole files
go to test until it holds ``--n-test`` sentences, then to dev until ``--n-dev``, the rest is train. Held-out
sentences therefore come from articles the parser never saw (no shared names or topics).

Model: char-LSTM word encoder (no pretrained model) + partitioned transformer + span classifier +
POS-tag head (so the oracle's trees carry PTB tags and EVALB's punctuation deletion works on them).
Optimisation as upstream benepar: Adam (betas 0.9/0.98), linear warmup, learning rate halved when dev
F1 has not improved for ``--decay-patience`` epochs, and (``--anneal-last N``) halved once per epoch over
the last N epochs, a finish that suits a fixed time budget. One dev evaluation per epoch; the best model by
dev F1 is kept (``best.pt``, benepar's ``{"config", "state_dict"}`` format, loads with
``benepar.Parser``). ``last.pt`` holds everything needed to resume; rerunning the same command resumes.

F1 is EVALB's with ``COLLINS.prm`` conventions as implemented by :mod:`ctrlgen.oracles.metrics`
(labelled brackets, ``TOP`` excluded, punctuation ``, : `` '' .`` deleted by the *gold* tag as EVALB
does: predicted trees get the gold preterminals before scoring; the brackets are the parser's).

    OMP_NUM_THREADS=1 nohup python recipes/train_parser.py --nltk-data DIR > runs/parser/train.log 2>&1 &
    python recipes/train_parser.py --nltk-data DIR --export ctrlgen/assets/parser-ptb-sample
        # fp16 copy of best.pt -> DIR/parser.pt, held-out F1 + speed -> recipes/results/parser_ptb_sample.json
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before torch loads
    os.environ.setdefault(_v, "1")

import argparse
import dataclasses
import hashlib
import logging
import math
import random
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from ctrlgen.oracles.metrics import BracketCounts, bracket_counts
from ctrlgen.oracles.parser import clean_ptb_tree

log = logging.getLogger("train_parser")
ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass
class Example:
    """benepar's ``BaseInputExample``: raw words, spacing, and (training only) the gold tree."""

    words: list[str]
    space_after: list[bool]
    tree: Any  # nltk.Tree rooted at TOP, or None for parsing

    def leaves(self) -> list[str]:
        return self.tree.leaves() if self.tree is not None else self.words

    def pos(self) -> list[tuple[str, str]]:
        return self.tree.pos() if self.tree is not None else [(w, "UNK") for w in self.words]


def nltk_root(arg: str | None) -> Path:
    root = arg or os.environ.get("NLTK_DATA") or (
        str(Path(os.environ["CTRLGEN_DATA"]) / "nltk_data") if os.environ.get("CTRLGEN_DATA") else None)
    if not root or not (Path(root) / "corpora" / "treebank.zip").is_file():
        raise SystemExit("pass --nltk-data DIR (or set NLTK_DATA, or CTRLGEN_DATA with nltk_data/ in it): "
                         f"the NLTK data root holding corpora/treebank.zip (got {root!r})")
    return Path(root)


def load_split(root: Path, seed: int, n_test: int, n_dev: int) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """Cleaned TOP trees by split, and a description of the split (sizes, files by split, fingerprint)."""
    import nltk

    nltk.data.path.insert(0, str(root))
    from nltk.corpus import treebank

    files = sorted(treebank.fileids())
    random.Random(seed).shuffle(files)
    split: dict[str, list[Any]] = {"test": [], "dev": [], "train": []}
    file_ids: dict[str, list[str]] = {"test": [], "dev": [], "train": []}
    n_dropped = 0
    for f in files:
        part = "test" if len(split["test"]) < n_test else "dev" if len(split["dev"]) < n_dev else "train"
        file_ids[part].append(f)
        for t in treebank.parsed_sents(f):
            c = clean_ptb_tree(t)
            if c is None:
                n_dropped += 1
            else:
                split[part].append(c)
    digest = hashlib.sha256((root / "corpora" / "treebank.zip").read_bytes()).hexdigest()
    info = {"data": "NLTK treebank sample (corpora/treebank.zip)", "sha256": digest, "seed": seed,
            "split_by": "file (article)", "sentences": {k: len(v) for k, v in split.items()},
            "files": {k: len(v) for k, v in file_ids.items()},
            "words": {k: sum(len(t.leaves()) for t in v) for k, v in split.items()},
            "dropped_empty": n_dropped, "file_ids": {k: sorted(v) for k, v in file_ids.items()}}
    return split, info


def make_example(tree: Any, with_tree: bool) -> Example:
    from benepar.ptb_unescape import guess_space_after, ptb_unescape

    leaves = tree.leaves()
    return Example(ptb_unescape(leaves), guess_space_after(leaves), tree if with_tree else None)


def make_hparams(args: argparse.Namespace, force_root: bool) -> Any:
    """Every key ChartParser reads (upstream ``make_hparams``), ours where it matters."""
    from benepar.nkutil import HParams

    return HParams(
        max_len_train=0, max_len_dev=0, batch_size=args.batch_size, learning_rate=args.lr,
        learning_rate_warmup_steps=args.warmup, clip_grad_norm=args.clip, checks_per_epoch=1,
        step_decay_factor=0.5, step_decay_patience=args.decay_patience, max_consecutive_decays=3,
        use_chars_lstm=True, d_char_emb=64, char_lstm_input_dropout=0.2,
        use_pretrained=False, pretrained_model="none", use_encoder=True,
        d_model=args.d_model, num_layers=args.num_layers, num_heads=args.num_heads, d_kv=args.d_kv,
        d_ff=args.d_ff, encoder_max_len=512,
        morpho_emb_dropout=0.2, attention_dropout=0.2, relu_dropout=0.1, residual_dropout=0.2,
        force_root_constituent=force_root, predict_tags=True, d_label_hidden=args.d_label_hidden,
        d_tag_hidden=args.d_label_hidden, tag_loss_scale=5.0,
    )


def build_parser(train: list[Any], args: argparse.Namespace) -> Any:
    from benepar.char_lstm import RetokenizerForCharLSTM
    from benepar.decode_chart import ChartDecoder
    from benepar.parse_chart import ChartParser

    tags = sorted({tag for t in train for _, tag in t.pos()})
    tag_vocab = {tag: i for i, tag in enumerate(["UNK", *tags])}
    label_vocab = ChartDecoder.build_vocab(train)
    char_vocab = RetokenizerForCharLSTM.build_vocab([make_example(t, False).words for t in train])
    hp = make_hparams(args, ChartDecoder.infer_force_root_constituent(train))
    return ChartParser(tag_vocab=tag_vocab, label_vocab=label_vocab, char_vocab=char_vocab, hparams=hp)


def with_tags(tree: Any, tags: list[str]) -> Any:
    """A copy of ``tree`` with its preterminal labels replaced by ``tags`` (same brackets)."""
    out = tree.copy(deep=True)
    for pos, tag in zip(_preterminals(out), tags, strict=True):
        out[pos].set_label(tag)
    return out


def _preterminals(tree: Any) -> list[tuple[int, ...]]:
    return [p for p in tree.treepositions() if not isinstance(tree[p], str) and len(tree[p]) == 1
            and isinstance(tree[p][0], str)]


def evaluate(parse_fn: Any, golds: list[Any]) -> dict[str, float]:
    """Corpus P/R/F1 (EVALB, punctuation deleted by gold tag), F1 counting every word, tag accuracy.

    ``parse_fn``: word lists → TOP trees (predicted tags). Predicted preterminals are replaced by gold
    ones before the EVALB score, as EVALB deletes punctuation by the gold tag.
    """
    from benepar.ptb_unescape import ptb_unescape

    preds = parse_fn([ptb_unescape(g.leaves()) for g in golds])
    evalb, allw = BracketCounts(), BracketCounts()
    right = total = 0
    for p, g in zip(preds, golds, strict=True):
        gold_tags = [t for _, t in g.pos()]
        pred_tags = [t for _, t in p.pos()]
        right += sum(a == b for a, b in zip(pred_tags, gold_tags, strict=True))
        total += len(gold_tags)
        evalb = evalb + bracket_counts(with_tags(p, gold_tags), g)
        allw = allw + bracket_counts(p, g, punct_tags=())
    return {"f1": 100 * evalb.f1, "precision": 100 * evalb.precision, "recall": 100 * evalb.recall,
            "f1_all_words": 100 * allw.f1, "tag_accuracy": 100 * right / total,
            "brackets": {"matched": evalb.matched, "pred": evalb.pred, "gold": evalb.gold}}


def chart_parse_fn(parser: Any) -> Any:
    """word lists → trees with the in-training ChartParser (sorted batches of 64, eval mode)."""

    def parse(sents: list[list[str]]) -> list[Any]:
        from benepar.ptb_unescape import guess_space_after

        out: list[Any] = [None] * len(sents)
        order = sorted(range(len(sents)), key=lambda k: len(sents[k]))
        for lo in range(0, len(order), 64):
            idx = order[lo:lo + 64]
            exs = [Example(sents[k], guess_space_after(sents[k]), None) for k in idx]
            for k, ex, t in zip(idx, exs, parser.parse(exs), strict=True):
                out[k] = _escape_leaves(t, ex.words)
        return out

    return parse


def _escape_leaves(tree: Any, words: list[str]) -> Any:
    """ChartParser.parse puts raw words at the leaves; give them PTB bracket escapes like benepar.Parser."""
    esc = {"(": "-LRB-", ")": "-RRB-", "{": "-LCB-", "}": "-RCB-", "[": "-LSB-", "]": "-RSB-"}
    for pos, w in zip(tree.treepositions("leaves"), words, strict=True):
        tree[pos] = esc.get(w, w)
    return tree


# ------------------------------------------------------------------------------------------ train
def train(args: argparse.Namespace) -> None:
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    split, info = load_split(nltk_root(args.nltk_data), args.seed, args.n_test, args.n_dev)
    log.info("split %s (sha256 %s…)", info["sentences"], info["sha256"][:12])
    torch.manual_seed(args.seed)
    parser = build_parser(split["train"], args)
    n_params = sum(p.numel() for p in parser.parameters())
    log.info("ChartParser: %.2fM parameters, %d labels, %d tags", n_params / 1e6, len(parser.label_vocab),
             len(parser.tag_vocab))
    params = [p for p in parser.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=args.lr, betas=(0.9, 0.98), eps=1e-9)
    state = {"epoch": 0, "step": 0, "best_f1": -1.0, "best_epoch": 0, "lr_scale": 1.0, "bad_epochs": 0,
             "history": [], "train_seconds": 0.0}
    last = out / "last.pt"
    if last.is_file():
        ck = torch.load(last, map_location="cpu", weights_only=True)  # no pickled code: plain types + tensors
        if ck["args"] != _model_args(args):
            raise SystemExit(f"{last} was trained with other settings {ck['args']}; use another --out-dir")
        parser.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        state = ck["state"]
        if "rng" in ck:
            torch.set_rng_state(ck["rng"])  # dropout masks continue as in an uninterrupted run
        log.info("resumed from %s at epoch %d (best dev F1 %.2f at epoch %d)", last, state["epoch"],
                 state["best_f1"], state["best_epoch"])
    train_ex = [make_example(t, True) for t in split["train"][: args.max_train]]
    dev_parse = chart_parse_fn(parser)
    steps_per_epoch = math.ceil(len(train_ex) / args.batch_size)
    while state["epoch"] < args.epochs and state["lr_scale"] >= args.min_lr_scale:
        epoch = state["epoch"] + 1
        anneal = 0.5 ** max(0, epoch - (args.epochs - args.anneal_last))  # final halving, one per epoch
        order = list(range(len(train_ex)))
        random.Random(args.seed * 1000 + epoch).shuffle(order)  # per-epoch order: resume is exact
        parser.train()
        t0, losses = time.perf_counter(), []
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch}", disable=None, dynamic_ncols=True)
        for b in bar:
            batch = [train_ex[k] for k in order[b * args.batch_size:(b + 1) * args.batch_size]]
            state["step"] += 1
            lr = args.lr * state["lr_scale"] * anneal * min(1.0, state["step"] / args.warmup)
            for g in opt.param_groups:
                g["lr"] = lr
            opt.zero_grad(set_to_none=True)
            total = 0.0
            for _, sub in parser.encode_and_collate_subbatches(batch, args.subbatch_max_tokens):
                loss = parser.compute_loss(sub)
                loss.backward()
                total += loss.item()
            if args.clip > 0:
                torch.nn.utils.clip_grad_norm_(params, args.clip)
            opt.step()
            losses.append(total)
            bar.set_postfix(loss=f"{total:.3f}", lr=f"{lr:.2e}")
            if (b + 1) % args.log_every == 0:
                log.info("epoch %d step %d/%d loss %.3f lr %.2e", epoch, b + 1, steps_per_epoch,
                         sum(losses[-args.log_every:]) / args.log_every, lr)
        secs = time.perf_counter() - t0
        dev = evaluate(dev_parse, split["dev"])
        state["train_seconds"] += secs
        state["epoch"] = epoch
        improved = dev["f1"] > state["best_f1"]
        if improved:
            state.update(best_f1=dev["f1"], best_epoch=epoch, bad_epochs=0)
            torch.save({"config": parser.config, "state_dict": parser.state_dict()}, out / "best.pt")
        else:
            state["bad_epochs"] += 1
            if state["bad_epochs"] >= args.decay_patience:  # upstream: ReduceLROnPlateau on dev F1
                state["lr_scale"] *= 0.5
                state["bad_epochs"] = 0
                log.info("no dev improvement for %d epochs: learning rate x0.5 (scale %.3g)",
                         args.decay_patience, state["lr_scale"])
        state["history"].append({"epoch": epoch, "loss": sum(losses) / len(losses), "seconds": secs, **dev})
        log.info("epoch %d: loss %.3f, %.0f s, dev F1 %.2f (P %.2f R %.2f, all-words %.2f, tags %.2f)%s",
                 epoch, sum(losses) / len(losses), secs, dev["f1"], dev["precision"], dev["recall"],
                 dev["f1_all_words"], dev["tag_accuracy"], " *best*" if improved else "")
        torch.save({"model": parser.state_dict(), "opt": opt.state_dict(), "state": state, "rng": torch.get_rng_state(),
                    "cli": {k: v for k, v in vars(args).items() if k not in ("nltk_data", "out_dir", "results")},
                    "args": _model_args(args)}, out / "last.tmp")
        os.replace(out / "last.tmp", last)  # atomic: a kill mid-save never corrupts last.pt
    log.info("done: best dev F1 %.2f at epoch %d, %.1f min of training", state["best_f1"], state["best_epoch"],
             state["train_seconds"] / 60)


def _model_args(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("seed", "n_test", "n_dev", "batch_size", "lr", "warmup", "clip", "d_model", "num_layers", "num_heads",
            "d_kv", "d_ff", "d_label_hidden")
    return {k: getattr(args, k) for k in keys}


# ----------------------------------------------------------------------------------------- export
def export(args: argparse.Namespace) -> None:
    """fp16 copy of ``best.pt`` into ``--export DIR``; held-out F1 (fp32 and fp16) and speed to JSON."""
    import json
    import platform

    from ctrlgen.oracles.parser import ConstituencyParser

    torch.set_num_threads(args.threads)
    src, dst = Path(args.out_dir) / "best.pt", Path(args.export) / "parser.pt"
    if not src.is_file():
        raise SystemExit(f"no {src}: train first")
    split, info = load_split(nltk_root(args.nltk_data), args.seed, args.n_test, args.n_dev)
    ck = torch.load(src, map_location="cpu", weights_only=True)
    half = {k: v.half() if v.is_floating_point() else v for k, v in ck["state_dict"].items()}
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": ck["config"], "state_dict": half}, dst)
    last_ck = torch.load(Path(args.out_dir) / "last.pt", map_location="cpu", weights_only=True)
    last = last_ck["state"]

    res: dict[str, Any] = {"split": info}
    for name, path in (("fp32", src), ("fp16", dst)):
        p = ConstituencyParser(path)
        res[f"test_{name}"] = evaluate(p.parse, split["test"])
        log.info("test %s: %s", name, res[f"test_{name}"])
    p = ConstituencyParser(dst)
    res["dev_fp16"] = evaluate(p.parse, split["dev"])
    res["pyevalb"] = pyevalb_check(p, split["test"])
    sents = [t.leaves() for t in split["test"]]
    p.parse(sents[:32])  # warm-up
    t0 = time.perf_counter()
    p.parse(sents)
    secs = time.perf_counter() - t0
    hp = ck["config"]["hparams"]
    res.update({
        "model": {k: hp[k] for k in ("d_model", "num_layers", "num_heads", "d_kv", "d_ff", "d_char_emb",
                                     "d_label_hidden", "predict_tags", "force_root_constituent")},
        "parameters": sum(v.numel() for v in half.values()), "file_bytes": dst.stat().st_size,
        "training": {"epochs_run": last["epoch"], "best_epoch": last["best_epoch"], "best_dev_f1": last["best_f1"],
                     "train_minutes": round(last["train_seconds"] / 60, 1),
                     "args": last_ck.get("cli", _model_args(args)),
                     "dev_f1_by_epoch": [round(h["f1"], 2) for h in last["history"]]},
        "speed": {"sentences": len(sents), "words": sum(map(len, sents)), "seconds": secs,
                  "sentences_per_s": len(sents) / secs, "threads": torch.get_num_threads(), "batch_size": 64,
                  "machine": {"platform": platform.platform(), "python": platform.python_version(),
                              "torch": torch.__version__, "cpu_count": os.cpu_count()}},
        "conventions": "EVALB COLLINS.prm via ctrlgen.oracles.metrics.bracket_counts: labelled brackets, "
                       "TOP excluded, words tagged , : `` '' . deleted by their gold tag (predicted trees get the "
                       "gold preterminals; brackets are the parser's), function tags trimmed, PRT=ADVP, "
                       "multiset matching; f1_all_words: no punctuation deleted, predicted tags",
    })
    out = Path(args.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    log.info("wrote %s and %s (%.2f MB)", dst, out, dst.stat().st_size / 1e6)


def pyevalb_check(parser: Any, golds: list[Any]) -> dict[str, Any]:
    """PYEVALB's corpus scores (a set of brackets, punctuation and the sentence root counted, TOP
    dropped) next to ctrlgen's with ``punct_tags=()``: the two should agree closely."""
    try:
        from PYEVALB import parser as eparser
        from PYEVALB import scorer
    except ImportError:
        return {"available": False}
    from benepar.ptb_unescape import ptb_unescape

    preds = parser.parse([ptb_unescape(g.leaves()) for g in golds])
    m = p = g_ = 0
    ours = BracketCounts()
    skipped = 0
    for pred, gold in zip(preds, golds, strict=True):
        pred = with_tags(pred, [t for _, t in gold.pos()])
        for pos, w in zip(pred.treepositions("leaves"), gold.leaves(), strict=True):
            pred[pos] = w  # PYEVALB compares words: use the gold spelling (quotes ` `` '')
        ps, gs = pred[0].pformat(margin=1 << 30), gold[0].pformat(margin=1 << 30)
        try:
            r = scorer.Scorer().score_trees(eparser.create_from_bracket_string(gs),
                                            eparser.create_from_bracket_string(ps))
        except Exception:  # noqa: BLE001 -- PYEVALB fails on some trees in its own ways: count and skip
            skipped += 1
            continue
        m += r.matched_brackets
        p += r.test_total_brackets if hasattr(r, "test_total_brackets") else r.test_brackets
        g_ += r.gold_total_brackets if hasattr(r, "gold_total_brackets") else r.gold_brackets
        ours = ours + bracket_counts(pred[0], gold[0], punct_tags=())
    f1 = 200 * m / (p + g_) if p + g_ else 0.0
    return {"available": True, "pyevalb_f1": f1, "ctrlgen_f1_all_words_same_trees": 100 * ours.f1,
            "sentences": len(golds) - skipped, "skipped": skipped}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nltk-data", default=None, help="NLTK data root (default $NLTK_DATA, else $CTRLGEN_DATA/nltk_data)")
    ap.add_argument("--out-dir", default=str(ROOT / "runs" / "parser"), help="checkpoints (resumed when present)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-test", type=int, default=400, help="held-out test sentences (whole files, at least)")
    ap.add_argument("--n-dev", type=int, default=200, help="dev sentences for model selection (whole files)")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--min-lr-scale", type=float, default=0.1, help="stop once the lr has decayed below this")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=160, help="linear warmup steps")
    ap.add_argument("--clip", type=float, default=0.0, help="gradient-norm clip (0: none, as upstream)")
    ap.add_argument("--anneal-last", type=int, default=0,
                    help="halve the lr once per epoch over the last N of --epochs (a fixed-budget finish)")
    ap.add_argument("--decay-patience", type=int, default=3, help="epochs without dev gain before lr x0.5")
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--num-layers", type=int, default=4)
    ap.add_argument("--num-heads", type=int, default=8)
    ap.add_argument("--d-kv", type=int, default=32)
    ap.add_argument("--d-ff", type=int, default=1024)
    ap.add_argument("--d-label-hidden", type=int, default=256)
    ap.add_argument("--subbatch-max-tokens", type=int, default=500,
                    help="padded words per forward pass: batches are split by length (less padding, same gradient)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--max-train", type=int, default=None, help="only the first N training sentences (smoke test)")
    ap.add_argument("--export", default=None, metavar="DIR", help="write DIR/parser.pt (fp16) and the results JSON")
    ap.add_argument("--results", default=str(ROOT / "recipes" / "results" / "parser_ptb_sample.json"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    export(args) if args.export else train(args)


if __name__ == "__main__":
    main()
