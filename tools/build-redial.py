#!/usr/bin/env python3
"""Build the ReDial dataset folder (docs/spec/dataset-format.md) from ReDial's public release.

Inputs, each plain or gzip-compressed (standard-library Python 3, no network):
  ReDial (Li et al., NeurIPS 2018, CC BY 4.0), from https://redialdata.github.io/website/ or its
  redial_dataset.zip: movies_with_mentions.csv, test_data.jsonl and train_data.jsonl;
  MovieLens ml-latest-small (GroupLens, non-commercial research use): movies.csv and tags.csv
  (optional: without them no tags.jsonl is written and multitask trials cannot run).

    python3 tools/build-redial.py --movies movies_with_mentions.csv --test test_data.jsonl \\
        --train train_data.jsonl --ml-movies ml-latest-small/movies.csv \\
        --ml-tags ml-latest-small/tags.csv --out data/redial
    python3 tools/embed.py data/redial          # the .npy sentence embeddings
    sweep data check data/redial

What it writes (the rules, in order):
  items.tsv     every movie of movies_with_mentions.csv (and any id a conversation names that the
                file lacks), indexed by ascending ReDial id: `index<TAB>redial_id<TAB>title`.
  *.jsonl       one example per conversation: `text` is the seeker's turns (the seeker is
                `initiatorWorkerId`) joined with " | ", each movie `@id` written `[MOVIE]`;
                `mentioned` the seeker's movies in order of first mention; `targets` the movies
                the recommender names that the seeker never does. Message text is HTML-unescaped
                and its whitespace collapsed; consecutive messages of one sender are one turn.
                Conversations without targets are left out. test.jsonl is the official test
                file; a train conversation goes to valid.jsonl when md5(conversationId) % 10 == 0.
                Several --train files may be given (earlier files win a repeated conversation; a
                test conversation inside them is ignored).
  tags.jsonl    distinct (tag, item) pairs of MovieLens tags joined by normalised title: the
                same (title, year) if exactly one MovieLens movie has it, else the same title
                with the year ±1 if exactly one, else (a title without a year) the same title if
                exactly one movie has it.
"""
import argparse
import collections
import csv
import gzip
import hashlib
import html
import io
import json
import pathlib
import re
import sys
import unicodedata

MENTION = re.compile(r"@(\d+)")
YEAR_AT_END = re.compile(r"\(\s*(\d{4})\s*(?:[-\u2013]\s*\d{0,4}\s*)?\)\s*$")
# Articles a title may carry at its end ("Matrix, The").
TRAILING_ARTICLES = ("the", "a", "an", "les", "la", "le", "l'", "il", "el", "los", "las", "das", "der", "die",
                     "den", "det", "een", "de", "lo", "i", "gli", "o")


def text_file(path: str):
    """A file's text, read through gzip when it ends in .gz; universal newlines off (csv needs that)."""
    raw = gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8", newline="")


def conversations(path: str):
    """The conversations of a ReDial JSONL file; a bad line is named with its number."""
    with text_file(path) as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                conversation = json.loads(line)
                conversation["conversationId"], conversation["messages"], conversation["initiatorWorkerId"]
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                sys.exit(f"{path}:{number}: not a ReDial conversation ({error})")
            yield conversation


def collapsed(text: str) -> str:
    return " ".join(text.split())


def turns(conversation) -> list:
    """(sender, text) per turn: messages unescaped and collapsed, one sender's run of messages merged."""
    merged = []
    for message in conversation["messages"]:
        sender, text = message["senderWorkerId"], collapsed(html.unescape(message["text"]))
        if merged and merged[-1][0] == sender:
            merged[-1] = (sender, (merged[-1][1] + " " + text).strip())
        else:
            merged.append((sender, text))
    return merged


def first_mentions(ids) -> list:
    return list(dict.fromkeys(ids))


def read_movies(path: str) -> dict:
    with text_file(path) as rows:
        return {int(row["movieId"]): collapsed(row["movieName"]) for row in csv.DictReader(rows)}


def gather(test_path: str, train_paths: list):
    """The test conversations and the train ones by id (earlier files win), with counts."""
    test = {c["conversationId"]: c for c in conversations(test_path)}
    train, repeats = {}, 0
    for path in train_paths:
        for conversation in conversations(path):
            key = conversation["conversationId"]
            if key in test or key in train:
                repeats += 1
                continue
            train[key] = conversation
    return test, train, repeats


def add_unlisted_movies(titles: dict, all_conversations) -> None:
    """Ids a conversation names that movies_with_mentions.csv lacks become items too."""
    unlisted = {}
    for conversation in all_conversations:
        mentions = conversation.get("movieMentions") or {}
        if isinstance(mentions, dict):
            for key, name in mentions.items():
                if key.isdigit() and int(key) not in titles and name:
                    unlisted.setdefault(int(key), collapsed(str(name)))
        for message in conversation["messages"]:
            for key in MENTION.findall(message["text"]):
                if int(key) not in titles:
                    unlisted.setdefault(int(key), "")
    titles.update(unlisted)


def example(conversation, index: dict) -> dict:
    seeker = conversation["initiatorWorkerId"]
    texts, seeker_ids, recommender_ids = [], [], []
    for sender, text in turns(conversation):
        ids = [int(key) for key in MENTION.findall(text)]
        if sender == seeker:
            seeker_ids += ids
            if text:
                texts.append(MENTION.sub("[MOVIE]", text))
        else:
            recommender_ids += ids
    mentioned = first_mentions(seeker_ids)
    said = set(mentioned)
    targets = [movie for movie in first_mentions(recommender_ids) if movie not in said]
    return {"id": conversation["conversationId"], "text": " | ".join(texts),
            "mentioned": [index[movie] for movie in mentioned], "targets": [index[movie] for movie in targets]}


def goes_to_valid(conversation_id: str) -> bool:
    return int(hashlib.md5(conversation_id.encode("utf-8")).hexdigest(), 16) % 10 == 0


def splits(test: dict, train: dict, index: dict) -> dict:
    out = {"train": [], "valid": [], "test": []}
    for origin, found in (("test", test), ("train", train)):
        for key in sorted(found, key=int):
            row = example(found[key], index)
            if not row["targets"] or not row["text"]:
                continue
            out[origin if origin == "test" else ("valid" if goes_to_valid(key) else "train")].append(row)
    return out


def title_and_year(title: str):
    title = collapsed(title)
    match = YEAR_AT_END.search(title)
    return (title[:match.start()].strip(), match.group(1)) if match else (title, None)


def normalised(title: str) -> str:
    """Lowercase ASCII words: parenthesised parts dropped, a trailing article moved to the front."""
    title = collapsed(re.sub(r"\([^()]*\)", " ", title))
    for article in TRAILING_ARTICLES:
        if title.lower().endswith(", " + article):
            rest = title[: -len(article) - 2]
            title = article + rest if article.endswith("'") else article + " " + rest
            break
    title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    return collapsed(re.sub(r"[^a-z0-9]+", " ", title.lower().replace("&", " and ")))


def movielens_match(titles: dict, movies_path: str) -> dict:
    """ReDial id → MovieLens movieId, by the three rules above."""
    by_title_year, by_title = collections.defaultdict(set), collections.defaultdict(set)
    with text_file(movies_path) as rows:
        for row in csv.DictReader(rows):
            title, year = title_and_year(row["title"])
            by_title_year[(normalised(title), year)].add(int(row["movieId"]))
            by_title[normalised(title)].add((int(row["movieId"]), year))
    matched = {}
    for redial_id in sorted(titles):
        if not titles[redial_id]:
            continue
        title, year = title_and_year(titles[redial_id])
        name = normalised(title)
        if not name:
            continue
        if year and len(by_title_year.get((name, year), ())) == 1:
            candidates = by_title_year[(name, year)]
        elif year:
            candidates = {movie for movie, other in by_title.get(name, ()) if other and abs(int(other) - int(year)) == 1}
        else:
            candidates = {movie for movie, _ in by_title.get(name, ())}
        if len(candidates) == 1:
            matched[redial_id] = next(iter(candidates))
    return matched


def tag_pairs(matched: dict, index: dict, tags_path: str) -> list:
    items_of = collections.defaultdict(list)
    for redial_id, movie in matched.items():
        items_of[movie].append(index[redial_id])
    pairs = set()
    with text_file(tags_path) as rows:
        for row in csv.DictReader(rows):
            tag = collapsed(row["tag"]).lower()
            for item in items_of.get(int(row["movieId"]), ()) if tag else ():
                pairs.add((item, tag))
    return sorted(pairs)


def write_lines(path: pathlib.Path, lines) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for line in lines:
            out.write(line + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--movies", required=True, help="ReDial movies_with_mentions.csv")
    parser.add_argument("--test", required=True, help="ReDial test_data.jsonl")
    parser.add_argument("--train", nargs="+", required=True, help="ReDial train_data.jsonl (or several files of its conversations)")
    parser.add_argument("--ml-movies", help="MovieLens movies.csv")
    parser.add_argument("--ml-tags", help="MovieLens tags.csv")
    parser.add_argument("--out", required=True, help="the dataset folder to write")
    args = parser.parse_args()
    if bool(args.ml_movies) != bool(args.ml_tags):
        parser.error("--ml-movies and --ml-tags go together")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    titles = read_movies(args.movies)
    test, train, repeats = gather(args.test, args.train)
    add_unlisted_movies(titles, list(test.values()) + list(train.values()))
    index = {redial_id: position for position, redial_id in enumerate(sorted(titles))}
    write_lines(out / "items.tsv", ["index\tredial_id\ttitle"]
                + [f"{index[redial_id]}\t{redial_id}\t{titles[redial_id].replace(chr(9), ' ')}" for redial_id in sorted(titles)])
    examples = splits(test, train, index)
    for name, rows in examples.items():
        write_lines(out / f"{name}.jsonl", (json.dumps(row, ensure_ascii=False) for row in rows))
    summary = {"items": len(index), **{name: len(rows) for name, rows in examples.items()}, "repeated_conversations": repeats}
    if args.ml_movies:
        matched = movielens_match(titles, args.ml_movies)
        pairs = tag_pairs(matched, index, args.ml_tags)
        write_lines(out / "tags.jsonl", (json.dumps({"tag": tag, "item": item}, ensure_ascii=False) for item, tag in pairs))
        summary |= {"movies_matched_to_movielens": len(matched), "tag_item_pairs": len(pairs)}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
