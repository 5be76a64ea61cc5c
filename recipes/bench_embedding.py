"""Benchmark an embedding-diffusion (Diffusion-LM) checkpoint on E2E and write JSON.

    CTRLGEN_DATA=/path/to/data python recipes/bench_embedding.py --model e2e \
        --out recipes/results/bench_embedding_e2e.json

Measures, on the stated machine:
- on valid.csv: x0-MSE ‖f(x_t, t) − Emb(w)‖² and rounding accuracy (argmax of the rounding head on
  f(x_t, t) equals the word; all positions and word positions only) at several t, for the model and
  for an untrained model of the same config (same seed);
- 200 samples at 200 steps: bigram precision against the training references (the fluency proxy),
  well-formed share, distinct-1/2, copy rate, length distribution next to the data's, samples/s;
- the same statistics for the real valid.csv references (the ceiling);
- with ``--teacher DIR``: teacher perplexity (lm-score) of the samples and of the valid references,
  and their ratio (the fluency gap; aim ≤ 1.5);
- wall time of the CLI command `ctrlgen generate -n 8`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import torch

from ctrlgen.backends.embedding.generator import EmbeddingGenerator
from ctrlgen.backends.embedding.model import EmbeddingLM  # noqa: E402
from ctrlgen.evaluation.bench import data_dir, machine, sample_quality, write_json  # noqa: E402
from ctrlgen.models.assets import resolve_model_path  # noqa: E402
from ctrlgen.oracles.fluency import BigramReference, distinct_n, length_histogram  # noqa: E402
from ctrlgen.text.dataset import encode_corpus
from ctrlgen.text.e2e import read_e2e_csv
from ctrlgen.text.tokenizer import split_words  # noqa: E402

T_POINTS = (0, 100, 500, 1000, 1500, 1999)


@torch.no_grad()
def denoising_metrics(model: EmbeddingLM, diffusion, ids: torch.Tensor, pad_id: int, seed: int = 0) -> dict:
    """x0-MSE and rounding accuracy of f(x_t, t) on ``ids: Tensor[N, L]`` at each t in T_POINTS
    (self-conditioned models get their own first prediction as input, as in sampling)."""
    out = {}
    g = torch.Generator().manual_seed(seed)
    emb = model.embed(ids)
    word = ids != pad_id
    for t_val in T_POINTS:
        if t_val >= diffusion.num_steps:
            continue
        t = torch.full((ids.shape[0],), t_val)
        x_t = diffusion.q_sample(emb, t, torch.randn(emb.shape, generator=g))
        pred = model(x_t, t, None)
        if model.config.self_condition:
            pred = model(x_t, t, pred)
        hit = model.logits(pred).argmax(-1) == ids
        out[str(t_val)] = {"x0_mse": float(((pred - emb) ** 2).mean()), "rounding_acc": float(hit.float().mean()),
                           "rounding_acc_words": float(hit[word].float().mean())}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="e2e")
    ap.add_argument("--data")
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--teacher", help="teacher LM checkpoint directory (ctrlgen.oracles.teacher)")
    ap.add_argument("--out", default="recipes/results/bench_embedding_e2e.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = data_dir(args.data) / "e2e"
    train = [e.ref for e in read_e2e_csv(data / "train.csv", parse_mrs=False)]
    valid = [e.ref for e in read_e2e_csv(data / "valid.csv", parse_mrs=False)]
    ref = BigramReference(train)
    gen = EmbeddingGenerator.from_pretrained(args.model)
    tok = gen.tokenizer
    ids = encode_corpus(valid, tok, gen.model.config.seq_len)
    torch.manual_seed(0)
    untrained = EmbeddingLM(gen.model.config).eval()
    result = {
        "model": str(args.model), "model_path_name": resolve_model_path(args.model).name, "machine": machine(),
        "data": {"train": "e2e/train.csv", "valid": "e2e/valid.csv", "valid_rows_used": int(ids.shape[0])},
        "denoising_valid": {"trained": denoising_metrics(gen.model, gen.diffusion, ids, tok.vocab.pad_id),
                            "untrained": denoising_metrics(untrained, gen.diffusion, ids, tok.vocab.pad_id)},
    }
    result["samples"] = sample_quality(gen, train, n=args.n, steps=args.steps, seed=args.seed, ref=ref, keep_texts=True)
    vl = [len(split_words(t)) for t in valid]
    result["valid_references"] = {
        "bigram_precision": ref.precision(valid), "copy_rate": ref.copy_rate(valid),
        "distinct_1": distinct_n(valid, 1), "distinct_2": distinct_n(valid, 2),
        "length_mean": statistics.mean(vl), "length_std": statistics.pstdev(vl), "length_hist": length_histogram(valid)}
    if args.teacher:
        from ctrlgen.oracles.teacher import Teacher

        teacher = Teacher.load(args.teacher)
        lm_samples, lm_valid = teacher.score(result["samples"].pop("all_texts")), teacher.score(valid)
        result["teacher"] = {"name": teacher.name, "fingerprint": teacher.fingerprint, "lm_score_samples": lm_samples,
                             "lm_score_valid_refs": lm_valid, "ratio": lm_samples / lm_valid}
    else:
        result["samples"].pop("all_texts")
    t0 = time.perf_counter()
    cli = subprocess.run([sys.executable, "-m", "ctrlgen.cli", "generate", "-n", "8", "--model",
                          str(resolve_model_path(args.model))], capture_output=True, text=True)
    result["cli_generate_8"] = {"seconds": time.perf_counter() - t0, "returncode": cli.returncode,
                                "texts": cli.stdout.splitlines()}
    s = result["samples"]
    print(f"bigram precision {s['bigram_precision']:.3f} (valid refs {result['valid_references']['bigram_precision']:.3f}), "
          f"well-formed {s['well_formed']:.3f}, copy rate {s['copy_rate']:.3f}, "
          f"{s['samples_per_s']:.2f} samples/s, CLI -n 8 {result['cli_generate_8']['seconds']:.1f}s"
          + (f", lm-score {result['teacher']['lm_score_samples']:.2f} vs refs {result['teacher']['lm_score_valid_refs']:.2f}"
             if "teacher" in result else ""))
    write_json(args.out, result)


if __name__ == "__main__":
    main()
