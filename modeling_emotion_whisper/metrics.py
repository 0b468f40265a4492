"""Metrics as the paper reports them (3.1, Table 2), computed locally (no Hub download).

micro-F1 (the headline; for one label per clip it equals accuracy), macro-F1, unweighted accuracy (UA, mean recall
over classes present), weighted accuracy (WA, plain accuracy), per-emotion F1 and the confusion matrix. Label
banning: emotions absent from a corpus get -1e27 added to their logits before the arg-max. Logit adjustment
subtracts tau * log(training prior).
"""

import numpy as np

BAN = -1e27


def ban_labels(logits: np.ndarray, allowed) -> np.ndarray:
    """Add -1e27 to the logits of every class not in `allowed` (paper 3.1)."""
    logits = np.array(logits, dtype=np.float64, copy=True)
    banned = np.ones(logits.shape[-1], dtype=bool)
    banned[list(allowed)] = False
    logits[..., banned] += BAN
    return logits


def adjust_logits(logits: np.ndarray, prior, tau: float = 1.0) -> np.ndarray:
    """Menon et al. (2021) post-hoc adjustment; classes with prior 0 are left alone."""
    prior = np.asarray(prior, dtype=np.float64)
    prior = prior / prior.sum()
    log_prior = np.where(prior > 0, np.log(np.maximum(prior, 1e-12)), 0.0)
    return np.asarray(logits, dtype=np.float64) - tau * log_prior


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return matrix


def classification_metrics(y_true, y_pred, label_names) -> dict:
    """Scores over the classes present in y_true (what a corpus can be judged on)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    matrix = confusion_matrix(y_true, y_pred, len(label_names))
    present = np.flatnonzero(matrix.sum(axis=1) > 0)
    tp = np.diag(matrix).astype(np.float64)
    precision = np.divide(tp, matrix.sum(axis=0), out=np.zeros_like(tp), where=matrix.sum(axis=0) > 0)
    recall = np.divide(tp, matrix.sum(axis=1), out=np.zeros_like(tp), where=matrix.sum(axis=1) > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=(precision + recall) > 0)
    accuracy = float(tp.sum() / max(1, len(y_true)))
    return {
        "micro_f1": accuracy,
        "macro_f1": float(f1[present].mean()) if len(present) else 0.0,
        "ua": float(recall[present].mean()) if len(present) else 0.0,
        "wa": accuracy,
        "n": int(len(y_true)),
        "per_class_f1": {label_names[i]: float(f1[i]) for i in present},
        "confusion_matrix": matrix.tolist(),
    }


def decision_logits(logits, allowed=None, prior=None, tau: float = 1.0) -> np.ndarray:
    """What the arg-max sees: logits after optional logit adjustment and label banning."""
    logits = np.asarray(logits, dtype=np.float64)
    if prior is not None:
        logits = adjust_logits(logits, prior, tau)
    if allowed is not None:
        logits = ban_labels(logits, allowed)
    return logits


def evaluate_logits(logits, y_true, label_names, allowed=None, prior=None, tau: float = 1.0) -> dict:
    """Arg-max of `decision_logits`, then `classification_metrics`."""
    return classification_metrics(y_true, decision_logits(logits, allowed, prior, tau).argmax(axis=-1), label_names)


def markdown_table(results: dict, label_names) -> str:
    """results: {column name: metrics}. Rows as in the paper's Table 2."""
    columns = list(results)
    lines = ["| | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for key, title in (("n", "clips"), ("micro_f1", "Micro F1"), ("macro_f1", "Macro F1"), ("ua", "UA"), ("wa", "WA")):
        cells = [(str(results[c][key]) if key == "n" else f"{100 * results[c][key]:.2f}") for c in columns]
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    for name in sorted(label_names):
        cells = [f"{100 * results[c]['per_class_f1'][name]:.2f}" if name in results[c]["per_class_f1"] else "-"
                 for c in columns]
        lines.append(f"| {name.capitalize()} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
