"""Find the labelled train images and the test images in an extracted tree, by name alone.

Two layouts exist in the wild: the competition's (``train/cat.123.jpg``, ``test1/1.jpg`` or
``test/1.jpg``, a sample submission CSV) and Microsoft's PetImages (``PetImages/Cat/123.jpg``).
A label comes from the file or folder name or not at all: anything else is rejected with a
reason, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from catsdogs.errors import UserError

LABELS = {"cat": 0, "dog": 1}
TRAIN_NAME = re.compile(r"^(cat|dog)\.\d+\.[A-Za-z0-9]+$")
TEST_DIRS = {"test1", "test"}
SAMPLE_SUBMISSIONS = {"samplesubmission.csv", "sample_submission.csv"}
# Files that operating systems drop into image folders: skipped without a word.
JUNK = {"thumbs.db", ".ds_store", "desktop.ini"}


@dataclass(frozen=True)
class Candidate:
    path: Path
    label: int | None = None  # train: 0 cat, 1 dog
    test_id: int | None = None  # competition test: the integer in the file name


@dataclass
class Layout:
    kind: str  # "competition" or "petimages"
    train: list[Candidate] = field(default_factory=list)
    test: list[Candidate] = field(default_factory=list)
    rejected: list[tuple[Path, str, str]] = field(default_factory=list)  # path, reason, detail
    sample_submission: Path | None = None
    skipped: int = 0


def is_junk(path: Path) -> bool:
    """A file an operating system leaves in image folders (``._x.jpg``, ``.DS_Store``)."""
    return path.name.lower() in JUNK or "__MACOSX" in path.parts or path.name.startswith("._")


def scan(roots: list[Path]) -> Layout:
    """Classify every file under ``roots`` (sorted, so the result is reproducible)."""
    files = sorted({p for root in roots for p in root.rglob("*") if p.is_file()})
    train, test, rejected = [], [], []
    sample, skipped, kinds = None, 0, set()
    for path in files:
        parent = path.parent.name.lower()
        if is_junk(path) or path.suffix.lower() == ".zip":
            skipped += 1
        elif path.name.lower() in SAMPLE_SUBMISSIONS:
            sample = sample or path
        elif parent in LABELS and path.parent.parent.name.lower() == "petimages":
            kinds.add("petimages")
            train.append(Candidate(path, label=LABELS[parent]))
        elif parent == "petimages":
            kinds.add("petimages")
            rejected.append((path, "no-label", "not inside PetImages/Cat or PetImages/Dog"))
        elif parent == "train":
            kinds.add("competition")
            if TRAIN_NAME.match(path.name):
                train.append(Candidate(path, label=LABELS[path.name.split(".")[0]]))
            else:
                rejected.append((path, "no-label", "name is not cat.N.* or dog.N.*"))
        elif parent in TEST_DIRS:
            if path.stem.isascii() and path.stem.isdigit():
                test.append(Candidate(path, test_id=int(path.stem)))
            else:
                rejected.append((path, "bad-test-id", "test file name is not an id of digits 0-9"))
        else:
            skipped += 1  # licences, readmes and the like beside the data
    if len(kinds) > 1:
        raise UserError("the source holds both the competition and the PetImages layout; pick one")
    kind = kinds.pop() if kinds else "none"
    return Layout(kind, train, test, rejected, sample, skipped)
