"""What the bad-input catalogue's cases share: :class:`Context` (the bundled generators, loaded once, and broken
copies of the bundled checkpoints, built on first use) and the helpers that write an API case in one line
(:func:`call`, :func:`load`, :func:`check`, :class:`X`) and check an honest result (:func:`want`, ...).
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from catalogue_harness import Case

import ctrlgen

MODELS = {"embedding": "e2e", "discrete": "e2e-sedd", "edit": "e2e-edit"}
BACKENDS = tuple(MODELS)
TEXT = "The Vaults is a cheap pub near Café Adriatic ."
TEMPLATE = "The Vaults is a [MASK] pub near [MASK] ."
LONG = " ".join(["pub"] * 60)  # longer than any bundled model's 48 positions


# --------------------------------------------------------------------------------------------- broken checkpoints
def _config(d: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    cfg = json.loads((d / "config.json").read_text())
    edit(cfg)
    (d / "config.json").write_text(json.dumps(cfg))


def _tensors(d: Path, edit: Callable[[dict[str, torch.Tensor]], None]) -> None:
    from safetensors.torch import load_file, save_file

    state = load_file(str(d / "model.safetensors"))
    edit(state)
    save_file(state, str(d / "model.safetensors"))


def _flip(d: Path) -> None:
    w = d / "model.safetensors"
    data = bytearray(w.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 256] = bytes(b ^ 0xFF for b in data[mid:mid + 256])
    w.write_bytes(bytes(data))


def _first_float(state: dict[str, torch.Tensor]) -> str:
    return next(k for k, v in state.items() if v.is_floating_point() and v.ndim == 2)


def _poison(value: float) -> Callable[[dict[str, torch.Tensor]], None]:
    def edit(state: dict[str, torch.Tensor]) -> None:
        state[_first_float(state)].fill_(value)
    return edit


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(cfg: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = cfg
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return edit


# name -> (what it does to a copy of the bundled checkpoint, re-seal the integrity digests afterwards?)
BROKEN: dict[str, tuple[Callable[[Path], None], bool]] = {
    "flip-bytes": (_flip, False),
    "truncated": (lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:5000]),
                  False),
    "truncated-sealed": (lambda d: (d / "model.safetensors").write_bytes(
        (d / "model.safetensors").read_bytes()[:5000]), True),
    "nan-weights": (lambda d: _tensors(d, _poison(math.nan)), False),
    "nan-weights-sealed": (lambda d: _tensors(d, _poison(math.nan)), True),
    "inf-weights-sealed": (lambda d: _tensors(d, _poison(math.inf)), True),
    "steps-edited": (lambda d: _config(d, _set("diffusion.steps", 500)), False),
    "sigma-edited": (lambda d: _config(d, _set("diffusion.sigma_max", 5.0)), False),
    "heads-3": (lambda d: _config(d, _set("model.heads", 3)), False),
    "heads-3-sealed": (lambda d: _config(d, _set("model.heads", 3)), True),
    "unknown-key-sealed": (lambda d: _config(d, _set("model.colour", "blue")), True),
    "seq-len-sealed": (lambda d: _config(d, _set("model.seq_len", 64)), True),
    "hidden-str-sealed": (lambda d: _config(d, _set("model.hidden", "big")), True),
    "hidden-neg-sealed": (lambda d: _config(d, _set("model.hidden", -128)), True),
    "layers-0-sealed": (lambda d: _config(d, _set("model.layers", 0)), True),
    "vocab-size-sealed": (lambda d: _config(d, _set("model.vocab_size", 600)), True),
    "extra-tensor-sealed": (lambda d: _tensors(d, lambda s: s.update(junk=torch.zeros(3))), True),
    "missing-tensor-sealed": (lambda d: _tensors(d, lambda s: s.pop(_first_float(s))), True),
    "schedule-bogus-sealed": (lambda d: _config(d, _set("diffusion.schedule", "zigzag")), True),
    "noise-bogus-sealed": (lambda d: _config(d, _set("diffusion.noise", "zigzag")), True),
    "span-bogus-sealed": (lambda d: _config(d, _set("diffusion.span", "zigzag")), True),
    "diffusion-steps-0-sealed": (lambda d: _config(d, _set("diffusion.steps", 0)), True),
    "no-integrity": (lambda d: _config(d, lambda c: c.pop("integrity")), False),
    "integrity-malformed": (lambda d: _config(d, _set("integrity", "trust me")), False),
    "config-not-json": (lambda d: (d / "config.json").write_text("{model_type: 'embedding-lm'"), False),
    "config-list": (lambda d: (d / "config.json").write_text("[1, 2, 3]"), False),
    "config-missing": (lambda d: (d / "config.json").unlink(), False),
    "weights-missing": (lambda d: (d / "model.safetensors").unlink(), False),
    "tokenizer-missing": (lambda d: (d / "tokenizer.json").unlink(), False),
    "tokenizer-corrupt-sealed": (lambda d: (d / "tokenizer.json").write_text('{"words": 7}'), True),
    "model-type-unknown": (lambda d: _config(d, _set("model_type", "gpt-17")), False),
    "model-type-missing": (lambda d: _config(d, lambda c: c.pop("model_type")), False),
    "draft-missing": (lambda d: _config(d, _set("bootstrap.draft_model", "no-such-draft")), False),
    "empty": (lambda d: [f.unlink() for f in d.iterdir()], False),
}


class Context:
    """What the cases share in one module: the loaded bundled generators (once each) and broken checkpoints
    (built on first use under ``root``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._gens: dict[str, Any] = {}
        (root / "a-file.txt").write_text("not a checkpoint\n")
        (root / "not-toml.toml").write_text("this is [not toml\n")
        (root / "unknown-key.toml").write_text('output_dir = "out"\ncolour = "blue"\n[data]\ntrain = "x.csv"\n')
        (root / "bad.csv").write_text("nothing,useful\n1,2\n")

    def gen(self, backend: str) -> Any:
        if backend not in self._gens:
            self._gens[backend] = ctrlgen.load(MODELS[backend])
        return self._gens[backend]

    def ckpt(self, model: str, name: str) -> Path:
        d = self.root / "ckpt" / f"{model}.{name}"
        if not d.exists():
            from ctrlgen.models.assets import resolve_model_path
            from ctrlgen.models.integrity import seal_directory

            src = resolve_model_path(model)
            shutil.copytree(src, d, ignore=shutil.ignore_patterns("classifiers", "*.md"))
            mutate, reseal = BROKEN[name]
            mutate(d)
            if reseal:
                seal_directory(d)
        return d

    def fill(self, arg: str) -> str:
        """``{tmp}`` → the scratch folder; ``{ckpt:MODEL:NAME}`` → a broken copy of a bundled model."""
        while "{ckpt:" in arg:
            start = arg.index("{ckpt:")
            end = arg.index("}", start)
            model, name = arg[start + 6:end].split(":")
            arg = arg[:start] + str(self.ckpt(model, name)) + arg[end + 1:]
        return arg.replace("{tmp}", str(self.root))


# --------------------------------------------------------------------------------------------- API case helpers
NS: dict[str, Any] = {name: getattr(ctrlgen, name) for name in ctrlgen.__all__ if name[0].isupper()}
NS.update(math=math, nan=math.nan, inf=math.inf, LONG=LONG, TEXT=TEXT)


class X:
    """A Python expression evaluated when the case runs (constructors of constraints may raise: that is the case)."""

    def __init__(self, expr: str) -> None:
        self.expr = expr

    def __repr__(self) -> str:
        return self.expr

    def value(self) -> Any:
        from ctrlgen.backends.discrete.sampler import SEDDSampler
        from ctrlgen.backends.edit.sampler import EditSampler
        from ctrlgen.backends.embedding.sampler import EmbeddingSampler

        return eval(self.expr, {**NS, "EmbeddingSampler": EmbeddingSampler, "SEDDSampler": SEDDSampler,
                                "EditSampler": EditSampler, "Keyword": keyword_classifier})


TINY_API = {"generate": {"n": 1, "steps": 2, "seed": 0},
            "infill": {"template": TEMPLATE, "n": 1, "steps": 2, "seed": 0},
            "edit": {"text": TEXT, "n": 1, "steps": 2, "seed": 0}}


def call(backend: str, method: str = "generate", **kw: Any) -> Callable[[Context], Any]:
    """``ctx.gen(backend).method(**tiny settings, **kw)``; ``X`` values are evaluated at call time."""
    def run(ctx: Context) -> Any:
        args = {**TINY_API.get(method, {}), **kw}
        args = {k: v.value() if isinstance(v, X) else v for k, v in args.items()}
        return getattr(ctx.gen(backend), method)(**args)

    run.__doc__ = f"load({MODELS[backend]!r}).{method}({', '.join(f'{k}={v!r}' for k, v in kw.items())})"
    return run


def load(ref: Any, then: str | None = None, **kw: Any) -> Callable[[Context], Any]:
    """``ctrlgen.load(ref, **kw)``; ``ref`` ``"ckpt:MODEL:NAME"`` is a broken checkpoint, ``"{tmp}/…"`` a scratch
    path; ``then="generate"`` also samples one text from it."""
    def run(ctx: Context) -> Any:
        arg = ctx.fill("{" + ref + "}") if isinstance(ref, str) and ref.startswith("ckpt:") else (
            ctx.fill(ref) if isinstance(ref, str) else ref)
        g = ctrlgen.load(arg, **kw)
        return g.generate(n=1, steps=2, seed=0) if then == "generate" else g

    run.__doc__ = f"ctrlgen.load({ref!r}{''.join(f', {k}={v!r}' for k, v in kw.items())})" + (
        f".{then}(n=1, steps=2)" if then else "")
    return run


def check(backend: str, constraint: str, texts: list[str]) -> Callable[[Context], Any]:
    """``load(model).prepare(constraint).satisfied(texts)``: the check face on hand-written texts."""
    def run(ctx: Context) -> Any:
        return ctx.gen(backend).prepare(X(constraint).value()).satisfied(texts)

    run.__doc__ = f"load({MODELS[backend]!r}).prepare({constraint}).satisfied({texts!r})"
    return run


def want(*expected: bool | None) -> Callable[[Any, Case], str | None]:
    """The satisfied list must be exactly ``expected``."""
    def verify(result: Any, case: Case) -> str | None:
        return None if list(result) == list(expected) else f"satisfied {list(result)}, expected {list(expected)}"
    return verify


def unchecked(result: Any, case: Case) -> str | None:
    """A constraint without a check face: reported unchecked, satisfied None — never True."""
    rep = result.report
    if not rep.get("unchecked") or any(s is not None for s in rep.get("satisfied", [True])):
        return f"a constraint without a check face reported as {rep.get('satisfied')} (unchecked: {rep.get('unchecked')})"
    return None


def honest_words(k: int) -> Callable[[Any, Case], str | None]:
    """``Length(k)``'s ``satisfied`` must agree with the word count of each text."""
    from ctrlgen.text.tokenizer import split_words

    def verify(result: Any, case: Case) -> str | None:
        sat = [len(split_words(t)) == k for t in result.texts]
        got = result.report.get("satisfied")
        return None if got == sat else f"satisfied {got} but word counts say {sat} for {result.texts}"
    return verify


def keyword_classifier(ctx_gen: Any = None) -> Any:
    """An untrained plug-in classifier with no check face (embedding space, reads latents)."""
    from torch import nn

    @ctrlgen.register_classifier("catalogue-keyword.v1", overwrite=True)
    class Keyword(ctrlgen.NoiseAwareClassifier):
        space = "embedding"

        def __init__(self, *, embed_dim: int = 16) -> None:
            super().__init__(embed_dim=embed_dim)
            self.head = nn.Linear(embed_dim, 2)

        def log_prob(self, x: torch.Tensor, t: torch.Tensor, target: Any) -> torch.Tensor:
            return self.head(x.mean(1)).log_softmax(-1)[:, 1]

        def encode_target(self, target: Any, tokenizer: Any, seq_len: int) -> Any:
            return torch.tensor(1)

    torch.manual_seed(0)
    return Keyword()


