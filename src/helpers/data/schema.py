"""The Galaxy Zoo 2 questionnaire as used by the Kaggle "Galaxy Challenge" table.

The 37 columns of ``training_solutions_rev1.csv`` are *cumulative* vote fractions: the
answers of one question sum to the fraction of the question's parent answer (Willett et al.
2013; the Kaggle data page). Everything that needs the tree reads it from here.

>>> len(COLUMNS)
37
>>> COLUMNS[0], COLUMNS[-1]
('Class1.1', 'Class11.6')
>>> QUESTIONS[9].parent
'Class2.1'
"""

from __future__ import annotations

from dataclasses import dataclass

ID_COLUMN = "GalaxyID"
SOLUTIONS_CSV = "training_solutions_rev1.csv"
TRAIN_IMAGES = "images_training_rev1"
TEST_IMAGES = "images_test_rev1"
TRUTH_FILE = "ground_truth.csv"  # written by the mock generator only; the real data has none
IMAGE_SIZE = 424  # Kaggle cutouts are 424x424 RGB JPEGs
TREE_TOLERANCE = 0.01  # real rows hold the sums to about 1e-3; generous for rounding in exports


@dataclass(frozen=True)
class Question:
    """One question of the tree: its answers (short names) and the answer it hangs from."""

    number: int
    text: str
    answers: tuple[str, ...]
    parent: str | None  # column whose value the answers sum to; None means 1

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f"Class{self.number}.{i + 1}" for i in range(len(self.answers)))


QUESTIONS: dict[int, Question] = {
    q.number: q
    for q in (
        Question(1, "Is the galaxy simply smooth and rounded, with no sign of a disk?",
                 ("smooth", "features or disk", "star or artifact"), None),
        Question(2, "Could this be a disk viewed edge-on?", ("yes", "no"), "Class1.2"),
        Question(3, "Is there a sign of a bar feature through the centre?", ("yes", "no"), "Class2.2"),
        Question(4, "Is there any sign of a spiral arm pattern?", ("yes", "no"), "Class2.2"),
        Question(5, "How prominent is the central bulge?",
                 ("no bulge", "just noticeable", "obvious", "dominant"), "Class2.2"),
        Question(6, "Is there anything odd?", ("yes", "no"), None),
        Question(7, "How rounded is it?", ("completely round", "in between", "cigar-shaped"),
                 "Class1.1"),
        Question(8, "Is the odd feature a ring, or is the galaxy disturbed or irregular?",
                 ("ring", "lens or arc", "disturbed", "irregular", "other", "merger", "dust lane"),
                 "Class6.1"),
        Question(9, "Does the galaxy have a bulge at its centre? If so, what shape?",
                 ("rounded", "boxy", "no bulge"), "Class2.1"),
        Question(10, "How tightly wound do the spiral arms appear?", ("tight", "medium", "loose"),
                 "Class4.1"),
        Question(11, "How many spiral arms are there?",
                 ("1", "2", "3", "4", "more than 4", "can't tell"), "Class4.1"),
    )
}

COLUMNS: list[str] = [c for q in QUESTIONS.values() for c in q.columns]
HEADER: list[str] = [ID_COLUMN, *COLUMNS]

# The study's labels, in a fixed order (the seed study's 8, then ours).
ROUND_LABELS = ("round: completely round", "round: in between", "round: cigar-shaped")
EDGE_ON_LABELS = ("edge-on disk: rounded bulge", "edge-on disk: boxy bulge", "edge-on disk: no bulge")
DISK_LABELS = ("disk: spiral", "disk: no spiral")
STAR_LABEL = "star or artifact"
UNCERTAIN_LABEL = "uncertain"
SEED_LABELS: tuple[str, ...] = ROUND_LABELS + EDGE_ON_LABELS + DISK_LABELS
LABELS: tuple[str, ...] = SEED_LABELS + (STAR_LABEL,)
ALL_LABELS: tuple[str, ...] = LABELS + (UNCERTAIN_LABEL,)


def family_of(label: str) -> str:
    """The family a label belongs to: the part of its name before the colon.

    >>> family_of("edge-on disk: boxy bulge"), family_of("star or artifact")
    ('edge-on disk', 'star or artifact')
    """
    return str(label).split(":", 1)[0]
