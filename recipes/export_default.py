"""Export a trained run (any model type) as a bundled model (``ctrlgen/assets/<name>``) with its provenance.

    python recipes/export_default.py runs/e2e-embedding --name e2e \
        --recipe "CTRLGEN_DATA=/path/to/data ctrlgen train recipes/configs/e2e_embedding.toml"

Takes the run's final ``model/`` (or, with ``--checkpoint latest``, the newest checkpoint's EMA
weights), re-saves it with ``save_pretrained`` and writes ``provenance.json`` beside it: recipe
command, config, seed, steps, training wall time (summed from ``log.jsonl``) and data fingerprint.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ctrlgen.api import model_class
from ctrlgen.models.pretrained import load_pretrained, read_config, save_pretrained

ASSETS = Path(__file__).resolve().parent.parent / "ctrlgen" / "assets"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--name", default="e2e")
    ap.add_argument("--checkpoint", default="final", help="'final' (run/model), 'latest' or a checkpoint name (step-0008000)")
    ap.add_argument("--recipe", required=True, help="the command that trained the run")
    ap.add_argument("--fp16", action="store_true", help="store weights in half precision")
    args = ap.parse_args()
    if args.checkpoint == "final":
        src = args.run / "model"
    else:  # "latest" or a checkpoint folder name such as step-0008000
        name = (args.run / "latest").read_text().strip() if args.checkpoint == "latest" else args.checkpoint
        src = args.run / "checkpoints" / name
    model, tok, cfg = load_pretrained(src, model_class(read_config(src)["model_type"]))
    log = [json.loads(line) for line in (args.run / "log.jsonl").read_text().splitlines()]
    every = cfg["training"]["log_every"]
    steps = int(src.name.split("-")[-1]) if src.name.startswith("step-") else cfg["training"]["steps"]
    seconds = sum(min(every, r["step"]) / r["steps_per_s"] for r in log if r["step"] <= steps)
    extra = {k: v for k, v in cfg.items() if k not in ("model", "model_type", "ctrlgen_version")}
    out = save_pretrained(ASSETS / args.name, model, tok, extra, dtype=torch.float16 if args.fp16 else None)
    prov = {"recipe": args.recipe, "source": src.name, "trained_steps": steps, "seed": cfg["training"]["seed"],
            "train_wall_seconds": round(seconds), "data": cfg.get("data"), "weights_dtype": "float16" if args.fp16 else "float32",
            "final_log": [r for r in log if r["step"] <= steps][-1]}
    (out / "provenance.json").write_text(json.dumps(prov, indent=2, ensure_ascii=False))
    print(f"exported {src} -> {out}")


if __name__ == "__main__":
    main()
