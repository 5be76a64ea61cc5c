"""A user-defined classifier that steers generation: "the text mentions WORD", trained in seconds.

The whole plug-in is the class below: a ``NoiseAwareClassifier`` that reads the bundled model's noisy
latents x_t and the step t and says whether some position holds one of a few keywords. It is trained
with ``ctrlgen.fit_classifier`` on references (noise-aware: x_t ~ q(x_t | x0) over the decoding
schedule), then passed to generation as ``ctrlgen.Classifier(classifier, "riverside")``: guidance
minimises its −log p on the latents at every step. Keep the fluency weight λ > 0 with a classifier this
small: with λ = 0 sign-gradient steps find latents that fool it ("can can can …").

    python recipes/user_classifier.py --word riverside            # E2E references from $CTRLGEN_DATA
    python recipes/user_classifier.py --word riverside --save DIR # also save it (config.json + weights)

Without ``$CTRLGEN_DATA`` it trains on sentences built from templates (:func:`template_texts`).
A saved classifier records the model's fingerprint and loads only for that model; a registered one is
found by name among the classifiers saved beside a model (``<model>/classifiers/*``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import ctrlgen


@ctrlgen.register_classifier("keyword.v1", overwrite=True)
class KeywordClassifier(ctrlgen.NoiseAwareClassifier):
    """log p(WORD occurs | x_t, t): a per-position MLP scores each keyword, a log-sum-exp over positions
    says "somewhere". Target: ``Tensor[B | 1, 2]`` = (keyword index, 1 present / 0 absent)."""

    space = "embedding"  # reads latents Tensor[B, L, d]

    def __init__(self, *, embed_dim: int, words: list[str], num_steps: int, hidden: int = 32) -> None:
        super().__init__(embed_dim=embed_dim, words=words, num_steps=num_steps, hidden=hidden)  # saved hparams
        self.words, self.num_steps = list(words), num_steps
        self.mlp = nn.Sequential(nn.Linear(embed_dim + 1, hidden), nn.Tanh(), nn.Linear(hidden, len(words)))

    def log_prob(self, x: Tensor, t: Tensor, target: Tensor) -> Tensor:
        target = target.expand(x.shape[0], -1)
        time = (t.float() / self.num_steps)[:, None, None].expand(-1, x.shape[1], 1)
        logit = self.mlp(torch.cat([x, time], -1)).logsumexp(1)  # Tensor[B, K]
        z = logit.gather(1, target[:, :1])[:, 0]
        return torch.where(target[:, 1] == 1, F.logsigmoid(z), F.logsigmoid(-z))

    def encode_target(self, target: str, tokenizer: object, seq_len: int) -> Tensor:
        if target not in self.words:
            raise ctrlgen.ConstraintError(f"keyword classifier: unknown word {target!r}", f"words: {self.words}")
        return torch.tensor([[self.words.index(target), 1]])


def make_data(gen: ctrlgen.EmbeddingGenerator, texts: list[str], words: list[str]) -> ctrlgen.ClassifierData:
    """One row per (text, keyword): the text's ids and (keyword index, present)."""
    L = gen.model.config.seq_len
    texts = [t for t in texts if len(gen.tokenizer.tokenize(t)) + 2 <= L]
    ids, targets = [], []
    for text in texts:
        tokens = set(gen.tokenizer.tokenize(text))
        for k, w in enumerate(words):
            ids.append(gen.tokenizer.encode(text, L))
            targets.append([k, int(w in tokens)])
    return ctrlgen.ClassifierData(torch.tensor(ids), torch.tensor(targets))


def train(gen: ctrlgen.EmbeddingGenerator, texts: list[str], words: list[str], steps: int = 300,
          seed: int = 0) -> KeywordClassifier:
    """A keyword classifier for ``gen``'s model, trained noise-aware on ``texts``."""
    torch.manual_seed(seed)
    clf = KeywordClassifier(embed_dim=gen.model.config.embed_dim, words=words, num_steps=gen.diffusion.num_steps)
    ctrlgen.fit_classifier(clf, gen, make_data(gen, texts, words), steps=steps, batch_size=128, lr=3e-3,
                           seed=seed, progress=False)
    return clf


def mentions(word: str, tokenizer: object, texts: list[str]) -> list[bool]:
    return [word in tokenizer.tokenize(t) for t in texts]


def compare(gen: ctrlgen.EmbeddingGenerator, clf: KeywordClassifier, word: str, n: int = 16, steps: int = 100,
            seed: int = 0, guidance: ctrlgen.GuidanceConfig | None = None) -> tuple:
    """``(unguided, guided)`` generation outputs with the same seed."""
    guidance = guidance or ctrlgen.GuidanceConfig.full(fluency_weight=0.01)
    free = gen.generate(n=n, steps=steps, seed=seed)
    c = ctrlgen.Classifier(clf, word, check=lambda ts: mentions(word, gen.tokenizer, ts))
    return free, gen.generate(n=n, steps=steps, seed=seed, constraints=c, guidance=guidance)


def steer(gen: ctrlgen.EmbeddingGenerator, clf: KeywordClassifier, word: str, n: int = 16, steps: int = 100,
          seed: int = 0, guidance: ctrlgen.GuidanceConfig | None = None) -> dict[str, object]:
    """Generate ``n`` texts with and without the classifier; the share that mention ``word``."""
    free, guided = compare(gen, clf, word, n, steps, seed, guidance)
    rate = lambda ts: sum(mentions(word, gen.tokenizer, ts)) / len(ts)
    return {"word": word, "n": n, "steps": steps, "seed": seed, "unguided_rate": rate(free.texts),
            "guided_rate": rate(guided.texts), "guided_seconds": round(guided.report["seconds"], 1),
            "unguided_seconds": round(free.report["seconds"], 1), "guided_examples": guided.texts[:4]}


def template_texts(n: int = 400, seed: int = 0) -> list[str]:
    """E2E-like sentences from templates (no data needed)."""
    rng = random.Random(seed)
    names = ["The Vaults", "The Eagle", "Zizzi", "Aromi", "The Punter", "Browns Cambridge", "The Mill"]
    kinds = ["pub", "restaurant", "coffee shop"]
    foods = ["Italian", "Chinese", "French", "English", "Japanese", "Indian", "fast food"]
    areas = ["riverside", "city centre"]
    out = []
    for _ in range(n):
        name, kind, food, area = rng.choice(names), rng.choice(kinds), rng.choice(foods), rng.choice(areas)
        out.append(rng.choice([f"{name} is a {food} {kind} in the {area} area .",
                               f"{name} is a {kind} serving {food} food .",
                               f"In the {area} , there is a {kind} called {name} .",
                               f"{name} serves {food} food in the {area} ."]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--word", default="riverside")
    ap.add_argument("--words", default="riverside,Italian,cheap,family,Japanese,pub")
    ap.add_argument("--steps", type=int, default=300, help="training steps")
    ap.add_argument("-n", type=int, default=16)
    ap.add_argument("--save", help="save the trained classifier to this directory")
    ap.add_argument("--out", help="write the result as JSON here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(1)
    gen = ctrlgen.load("e2e")
    data = os.environ.get("CTRLGEN_DATA")
    if data:
        from ctrlgen.text.e2e import read_e2e_csv

        texts = [e.ref for e in read_e2e_csv(Path(data) / "e2e" / "train.csv")][:3000]
    else:
        texts = template_texts()
    words = [w for w in args.words.split(",") if w]
    t0 = time.perf_counter()
    clf = train(gen, texts, words, steps=args.steps)
    result = {"train_seconds": round(time.perf_counter() - t0, 1), "train_texts": len(texts),
              **steer(gen, clf, args.word, n=args.n)}
    if args.save:
        clf.save_pretrained(args.save)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
