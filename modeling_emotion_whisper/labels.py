"""The 8 emotions, the table that maps every corpus's labels onto them, soft labels and neutral smoothing.

Paper 2.1: labels are harmonized after Shaver et al. (1987), whose prototype hierarchy puts each emotion word under
one of a few basic categories (love, joy, surprise, anger, sadness, fear); a word that is a weaker or partial member
of a category maps there with a weight below 1 (the paper's example: contempt -> disgust, 0.5). Paper 2.2: samples
whose summed emotion score is below their dataset's mean are smoothed towards a flat distribution; for corpora whose
scores are vote shares the intensity is the raters' agreement instead (`intensity`).
"""

from collections.abc import Iterable, Mapping

import numpy as np

from .configuration_emotion_whisper import EMOTIONS

NEUTRAL = EMOTIONS.index("neutral")
MAX_ALPHA = 0.45

# source label (lower case) -> ({emotion: weight}, why). Weights are emotion scores in [0, 1]: 1 for a prototype
# member of the category, less for a partial one. A label mapped to several emotions splits its weight among them;
# one label's weights sum to at most 1, so that no plain label looks more intense than a prototype (that would raise
# its dataset's mean intensity and smooth every other sample).
HARMONIZATION: dict[str, tuple[dict[str, float], str]] = {
    "happiness": ({"happiness": 1.0}, "basic category (Shaver: joy)"),
    "happy": ({"happiness": 1.0}, "basic category"),
    "joy": ({"happiness": 1.0}, "basic category"),
    "amused": ({"happiness": 1.0}, "amusement is in Shaver's joy cluster (cheerfulness)"),
    "excited": ({"happiness": 1.0}, "excitement is in Shaver's joy cluster (zest); IEMOCAP practice merges it with happy"),
    "excitement": ({"happiness": 1.0}, "as excited"),
    "pleasure": ({"happiness": 1.0}, "pleasure is in Shaver's joy cluster (contentment)"),
    "encouraging": ({"happiness": 0.5}, "hope/optimism is a peripheral member of joy; the rest is attitude"),
    "sadness": ({"sadness": 1.0}, "basic category"),
    "sad": ({"sadness": 1.0}, "basic category"),
    "disappointment": ({"sadness": 1.0}, "disappointment is a subcluster of Shaver's sadness"),
    "apologetic": ({"sadness": 0.5}, "regret/guilt sits in Shaver's sadness cluster (shame), weaker than sadness"),
    "disgust": ({"disgust": 1.0}, "basic category"),
    "disgusted": ({"disgust": 1.0}, "basic category"),
    "contempt": ({"disgust": 0.5}, "paper 2.1: contempt -> disgust with weight 0.5"),
    "fear": ({"fear": 1.0}, "basic category"),
    "fearful": ({"fear": 1.0}, "basic category"),
    "anxious": ({"fear": 0.5}, "anxiety is in Shaver's fear cluster (nervousness), lower intensity"),
    "concerned": ({"fear": 0.5}, "worry is in Shaver's fear cluster (nervousness), lower intensity"),
    "surprise": ({"surprise": 1.0}, "basic category"),
    "surprised": ({"surprise": 1.0}, "basic category"),
    "pleasant surprise": ({"surprise": 0.7, "happiness": 0.3}, "surprise with positive valence (TESS 'ps')"),
    "anger": ({"anger": 1.0}, "basic category"),
    "angry": ({"anger": 1.0}, "basic category"),
    "frustration": ({"anger": 0.5}, "frustration/exasperation is a subcluster of Shaver's anger, milder"),
    "frustrated": ({"anger": 0.5}, "as frustration"),
    "neutral": ({"neutral": 1.0}, "no emotion expressed"),
    "neutral state": ({"neutral": 1.0}, "IEMOCAP's wording of neutral"),
    "calm": ({"neutral": 1.0}, "low arousal without a basic emotion; corpora use it as the unmarked baseline"),
    "boredom": ({"neutral": 0.8, "sadness": 0.2}, "low arousal, slightly negative; the paper's EmoDB results have no 'other'"),
    "bored": ({"neutral": 0.8, "sadness": 0.2}, "as boredom"),
    "sleepy": ({"neutral": 0.5, "other": 0.5}, "a bodily state, not an emotion; low arousal"),
    "assertive": ({"other": 1.0}, "an attitude outside the basic categories"),
    "pain": ({"other": 1.0}, "a bodily state outside the basic categories"),
    "acceptance": ({"other": 1.0}, "Plutchik's trust/acceptance has no basic category in Shaver"),
    "anticipation": ({"other": 1.0}, "Plutchik's anticipation has no basic category in Shaver"),
    "other": ({"other": 1.0}, "explicitly outside the basic categories"),
}


def harmonize(source: Mapping[str, float]) -> np.ndarray:
    """{source label: score} -> emotion scores over EMOTIONS (not normalized: their sum is the intensity E_i).

    A source score (a vote share, an intensity in [0, 1], or 1 for a plain label) multiplies the table's weights.
    """
    scores = np.zeros(len(EMOTIONS), dtype=np.float64)
    for label, score in source.items():
        key = label.strip().lower()
        if key not in HARMONIZATION:
            raise KeyError(f"no harmonization for source label {label!r}; add it to labels.HARMONIZATION")
        for emotion, weight in HARMONIZATION[key][0].items():
            scores[EMOTIONS.index(emotion)] += weight * score
    return np.minimum(scores, 1.0)


SMOOTHING_TARGETS = ("uniform", "neutral")
INTENSITY_MEASURES = ("sum", "agreement")


def intensity(scores: np.ndarray, measure: str = "sum") -> float:
    """E_i of paper 2.2, how clearly a sample shows its emotion. "sum" (the paper): its summed emotion scores, for
    plain labels (1, or a table weight below 1) and rated intensities. "agreement": its top emotion's score, for
    corpora whose scores are shares of the raters' votes (IEMOCAP, MSP-Podcast, MSP-IMPROV). Shares sum to 1 however
    the raters split, so their sum falls below 1 only when votes go to a label weighted below 1 (contempt, frustration)
    and smoothing would fire on those clips alone; the top share is what a vote says of intensity: 1 when the raters
    agree, lower the more they split (a unanimous plain label scores the same under both measures)."""
    if measure not in INTENSITY_MEASURES:
        raise ValueError(f"intensity measure must be one of {INTENSITY_MEASURES}, got {measure!r}")
    scores = np.asarray(scores, dtype=np.float64)
    return float(scores.max()) if measure == "agreement" else float(scores.sum())


def neutral_smoothing(scores: np.ndarray, mean_intensity: float, target: str = "uniform",
                      measure: str = "sum") -> np.ndarray:
    """Paper 2.2 for one sample: if E_i = sum_j e_j < E_bar (E_i the top e_j with `measure` "agreement", see
    `intensity`), alpha = min(|E_bar - E_i| / E_bar, 0.45) and
    e'_j = e_j (1 - alpha) + (1 - e_j) alpha / M (target "uniform", the paper's formula as written). Target
    "neutral" follows the paper's stated intent ("boosting the weight of neutral") instead: e'_j = e_j (1 - alpha)
    and neutral gains alpha. The primary emotion is kept: if the arg-max of e' differs from that of e, neutral's
    weight is lowered to just under the primary's. Returns unnormalized scores."""
    if target not in SMOOTHING_TARGETS:
        raise ValueError(f"neutral smoothing target must be one of {SMOOTHING_TARGETS}, got {target!r}")
    scores = np.asarray(scores, dtype=np.float64)
    own = intensity(scores, measure)
    if mean_intensity <= 0 or own >= mean_intensity:
        return scores.copy()
    alpha = min(abs(mean_intensity - own) / mean_intensity, MAX_ALPHA)
    if target == "neutral":
        smoothed = scores * (1 - alpha)
        smoothed[NEUTRAL] += alpha
    else:
        smoothed = scores * (1 - alpha) + (1 - scores) * alpha / len(scores)
    primary = int(np.argmax(scores))
    if int(np.argmax(smoothed)) != primary and primary != NEUTRAL:
        smoothed[NEUTRAL] = np.nextafter(smoothed[primary], 0)
    return smoothed


def soft_labels(score_rows: Iterable[np.ndarray], smoothing: bool = True, target: str = "uniform",
                measure: str = "sum") -> np.ndarray:
    """Emotion scores of one dataset (n, 8) -> soft labels (n, 8) summing to 1, neutral-smoothed (towards `target`)
    against the dataset's mean intensity (`measure`: see `intensity`; the corpus says which, Corpus.intensity)."""
    rows = np.asarray(list(score_rows), dtype=np.float64).reshape(-1, len(EMOTIONS))
    if smoothing and len(rows):
        mean = float(np.mean([intensity(row, measure) for row in rows]))
        rows = np.stack([neutral_smoothing(row, mean, target, measure) for row in rows])
    totals = rows.sum(axis=1, keepdims=True)
    if (totals <= 0).any():
        raise ValueError("a sample has no emotion score; its source labels map to nothing")
    return (rows / totals).astype(np.float32)


def label_table_markdown() -> str:
    """The harmonization table as markdown, for the docs and the model card."""
    lines = ["| source label | becomes | why |", "|---|---|---|"]
    for label, (weights, why) in sorted(HARMONIZATION.items()):
        mapped = ", ".join(f"{emotion} {weight:g}" for emotion, weight in weights.items())
        lines.append(f"| {label} | {mapped} | {why} |")
    return "\n".join(lines)
