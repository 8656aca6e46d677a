"""A run's `history.csv` across resumes: the best score so far, and rows a resumed run redoes."""

import csv


def _history_rows(history_csv):
    if not history_csv.is_file():
        return []
    with open(history_csv, newline="") as stream:
        return list(csv.DictReader(stream))


def best_val_top1(history_csv, completed_epochs):
    """The best `val_top1` among the first `completed_epochs` rows of a run's history, or None."""
    scores = [float(row["val_top1"]) for row in _history_rows(history_csv)
              if int(row["epoch"]) < completed_epochs and row.get("val_top1")]
    return max(scores) if scores else None


def truncate_history(history_csv, completed_epochs):
    """Drops rows of epochs that a resumed run trains again (a run killed after logging an
    epoch but before backing it up)."""
    rows = _history_rows(history_csv)
    kept = [row for row in rows if int(row["epoch"]) < completed_epochs]
    if len(kept) != len(rows):
        with open(history_csv, "w", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(kept)
