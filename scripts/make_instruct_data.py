"""Writes the small instruction sources and held-out question set of the instruction-tuning demo.

    python scripts/make_instruct_data.py OUT_DIR

Writes OUT_DIR/{capitals,arithmetic,chat}.jsonl (one conversation a line: {"messages": [...]},
one domain each) and OUT_DIR/heldout.jsonl ({"question", "answer"} pairs scored by exact match).
The held-out questions ask for capitals in the words the `capitals` source uses: a tiny random
model (scripts/make_tiny_checkpoints.py) can answer only what it memorised, so its score rises
with the weight of that source, the other two being distractors.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

CAPITALS = [
    ("France", "Paris"),
    ("Italy", "Rome"),
    ("Spain", "Madrid"),
    ("Japan", "Tokyo"),
    ("Egypt", "Cairo"),
    ("Peru", "Lima"),
    ("Kenya", "Nairobi"),
    ("Chile", "Santiago"),
    ("Cuba", "Havana"),
    ("Greece", "Athens"),
    ("Norway", "Oslo"),
    ("Poland", "Warsaw"),
]
HELDOUT = CAPITALS[:4]
CHAT = [
    ("Say hello.", "Hello!"),
    ("Greet a friend.", "Hi, good to see you."),
    ("Thank someone.", "Thank you very much."),
    ("Say goodbye.", "Goodbye, see you soon."),
    ("Apologise.", "I am sorry."),
    ("Ask how someone is.", "How are you today?"),
    ("Wish a good night.", "Good night, sleep well."),
    ("Say please.", "Please."),
    ("Congratulate someone.", "Congratulations!"),
    ("Welcome a guest.", "Welcome, come in."),
    ("Wish luck.", "Good luck!"),
    ("Say yes politely.", "Yes, of course."),
]


def _conversation(question: str, answer: str) -> dict:
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}


def capital_question(country: str) -> str:
    return f"What is the capital of {country}?"


def sources() -> dict[str, list[dict]]:
    """Conversations per domain (every conversation has an assistant turn)."""
    arithmetic = [_conversation(f"What is {a} plus {b}?", str(a + b)) for a in range(2, 8) for b in (3, 5)]
    return {
        "capitals": [_conversation(capital_question(c), k) for c, k in CAPITALS],
        "arithmetic": arithmetic,
        "chat": [_conversation(q, a) for q, a in CHAT],
    }


def write(out_dir: str | pathlib.Path) -> dict[str, pathlib.Path]:
    """Writes the sources and heldout.jsonl; returns {domain or 'heldout': path}."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, conversations in sources().items():
        paths[name] = out / f"{name}.jsonl"
        paths[name].write_text("".join(json.dumps(c) + "\n" for c in conversations))
    paths["heldout"] = out / "heldout.jsonl"
    paths["heldout"].write_text(
        "".join(json.dumps({"question": capital_question(c), "answer": k}) + "\n" for c, k in HELDOUT)
    )
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    args = parser.parse_args(argv)
    for path in write(args.out_dir).values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
