"""Interpolate a fine-tuned model towards the model it started from, in weight space (WiSE-FT, Wortsman et al.
2022): to keep what the start knew (a release's corpora, a pretrained encoder's generality).

    python benchmarks/weight_interpolation.py --start checkpoints/emotion-whisper-base \
        --finetuned runs/whisper-base-six-from-bundled/final --alpha 0.5 --out runs/exp/wise-0.5

`--finetuned` must have been trained from `--start` (train.py --model_name_or_path START, or a Whisper checkpoint
such as ../shared/models/whisper-base-encoder): only then do their weights lie in one basin where a point between
them is itself a good model. The result is --finetuned with every encoder weight at (1 - alpha) * start + alpha *
finetuned, saved in the paper's layout (one linear head on the final layer, scoring frames and clips) with the
fine-tuned model's config (its labels, training corpora). Its head is the fine-tuned per-frame head (the paper's
head, or `frame_head` where the head was refitted), averaged the same way with START's when START is an
emotion-whisper model, and then so is the label prior of logit adjustment (geometrically: interpolated_prior).
A refitted clip head is dropped, not averaged (two probes' standardizations differ); refit the result instead,
which keeps the averaged head for frames:

    python train.py configs/cpu-whisper-base.yaml --model_name_or_path runs/exp/wise-0.5 --num_epochs 0 \
        --output_dir runs/exp/wise-0.5-refit

`--soup A B C ...` instead averages several fine-tuned models uniformly (a uniform model soup, Wortsman et al.
2022, "Model soups"): models fine-tuned from one start with other settings lie in one basin, and their average
was found more robust out of distribution than any of them. Encoders and per-frame heads averaged, label priors
averaged geometrically; refit the result as above.

    python benchmarks/weight_interpolation.py --soup runs/a/final runs/b/final runs/c/final --out runs/exp/soup
"""

import argparse
import copy
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from modeling_emotion_whisper.head_fit import per_frame_head  # noqa: E402


def lerp_(ours: torch.nn.Module, theirs: torch.nn.Module, weight: float):
    """ours <- ours + weight * (theirs - ours), for every tensor; refuses modules of different shapes."""
    target = theirs.state_dict()
    with torch.no_grad():
        for name, value in ours.state_dict().items():
            if name not in target or target[name].shape != value.shape:
                raise SystemExit(f"{name}: shape {tuple(value.shape)} against "
                                 f"{tuple(target[name].shape) if name in target else 'missing'}; "
                                 f"was --finetuned trained from --start?")
            value.lerp_(target[name].to(value.dtype), weight)


def interpolated_prior(start_prior, finetuned_prior, alpha: float) -> list[float]:
    """The label prior that logit adjustment should use with the averaged head. The adjusted head is the head with
    tau * log(prior) taken from its bias, so averaging the two adjusted heads averages the log priors: a geometric
    interpolation. A class without a prior in either (never a hard label: no adjustment) keeps the fine-tuned one."""
    a, b = np.asarray(start_prior, dtype=np.float64), np.asarray(finetuned_prior, dtype=np.float64)
    both = (a > 0) & (b > 0)
    prior = b.copy()
    prior[both] = np.exp((1 - alpha) * np.log(a[both]) + alpha * np.log(b[both]))
    return (prior / prior.sum()).tolist()


def interpolate(start, finetuned, alpha: float, start_has_head: bool):
    """A new model in the paper's layout: `finetuned`'s config and per-frame head, its encoder moved 1 - alpha of
    the way back to `start`'s (and its head to `start`'s emotion head, when `start` has a trained one)."""
    if start_has_head and (start.config.layer_concatenation or start.config.layer_weighting
                           or start.config.feature_standardization != "none"):
        raise SystemExit("--start must be in the paper's layout (a head on the final layer, no standardization), "
                         "e.g. the bundled model, or a Whisper checkpoint")
    if start_has_head and start.config.id2label != finetuned.config.id2label:
        raise SystemExit(f"the two models have different labels: {start.config.id2label} against "
                         f"{finetuned.config.id2label}")
    head = per_frame_head(finetuned)
    if head is None:
        raise SystemExit("--finetuned has no per-frame head on the final layer to average (a model trained with "
                         "layer weighting or standardization); interpolate one in the paper's layout or refitted")
    config = copy.deepcopy(finetuned.config)
    config.layer_concatenation, config.layer_weighting, config.frame_head = False, False, False
    config.feature_standardization, config.source_feature_mean, config.source_feature_std = "none", None, None
    model = type(finetuned)(config).eval()  # a new domain head: it read another layout, and inference ignores it
    model.encoder.load_state_dict(finetuned.encoder.state_dict())
    model.emotion_head.load_state_dict(head.state_dict())
    lerp_(model.encoder, start.encoder, 1 - alpha)
    if start_has_head:
        lerp_(model.emotion_head, start.emotion_head, 1 - alpha)
        if start.config.label_prior and finetuned.config.label_prior:
            model.config.label_prior = interpolated_prior(start.config.label_prior, finetuned.config.label_prior,
                                                          alpha)
    return model


def soup(models):
    """The uniform average of models fine-tuned from one start, in the paper's layout (as `interpolate`)."""
    labels = {json_labels(m) for m in models}
    if len(labels) > 1:
        raise SystemExit(f"the models have different labels: {sorted(labels)}")
    normalizations = {m.config.input_normalization for m in models}
    if len(normalizations) > 1:
        raise SystemExit(f"the models read different input features (input_normalization {sorted(normalizations)}): "
                         f"their encoders do not average")
    model = interpolate(models[0], models[0], 1.0, start_has_head=False)
    for k, other in enumerate(models[1:], start=2):  # a running mean: the k-th model weighs 1 / k
        head = per_frame_head(other)
        if head is None:
            raise SystemExit("every model needs a per-frame head on the final layer to average")
        lerp_(model.encoder, other.encoder, 1 / k)
        lerp_(model.emotion_head, head, 1 / k)
    if all(m.config.label_prior for m in models):  # geometric mean over the models that have the class (as above)
        priors = np.array([m.config.label_prior for m in models], dtype=np.float64)
        held = priors > 0
        logs = np.where(held, np.log(np.where(held, priors, 1.0)), 0.0).sum(0) / np.maximum(held.sum(0), 1)
        prior = np.where(held.any(0), np.exp(logs), 0.0)
        model.config.label_prior = (prior / prior.sum()).tolist()
    return model


def json_labels(model) -> str:
    return repr(sorted(model.config.id2label.items()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", help="What fine-tuning started from: an emotion-whisper model in "
                                        "the paper's layout, or a Whisper checkpoint.")
    parser.add_argument("--finetuned", help="An emotion-whisper model trained from --start.")
    parser.add_argument("--alpha", type=float, help="0 gives --start's encoder, 1 --finetuned's.")
    parser.add_argument("--soup", nargs="+", help="Instead of the three above: emotion-whisper models fine-tuned "
                                                  "from one start, averaged uniformly.")
    parser.add_argument("--out", required=True, help="Folder for the interpolated model.")
    args = parser.parse_args(argv)

    from modeling_emotion_whisper import WhisperForEmotionClassification
    from train import is_emotion_whisper

    if args.soup:
        if args.start or args.finetuned or args.alpha is not None:
            raise SystemExit("give either --soup MODEL MODEL ... or --start, --finetuned and --alpha")
        if len(args.soup) < 2:
            raise SystemExit("--soup needs at least two models")
        model = soup([WhisperForEmotionClassification.from_pretrained(m, dtype=torch.float32) for m in args.soup])
        model.config.interpolated_from = {"soup": args.soup}
        model.save_pretrained(args.out)
        print(f"saved {args.out}: the uniform average of {len(args.soup)} models")
        return
    if args.start is None or args.finetuned is None or args.alpha is None:
        raise SystemExit("give --start, --finetuned and --alpha (or --soup MODEL MODEL ...)")
    if not 0 <= args.alpha <= 1:
        raise SystemExit(f"--alpha must be within [0, 1], got {args.alpha}")

    start_has_head = is_emotion_whisper(args.start)
    start = (WhisperForEmotionClassification.from_pretrained(args.start, dtype=torch.float32) if start_has_head
             else WhisperForEmotionClassification.from_whisper(args.start))
    finetuned = WhisperForEmotionClassification.from_pretrained(args.finetuned, dtype=torch.float32)
    model = interpolate(start, finetuned, args.alpha, start_has_head)
    model.config.interpolated_from = {"start": args.start, "finetuned": args.finetuned, "alpha": args.alpha}
    model.save_pretrained(args.out)
    print(f"saved {args.out}: encoder {1 - args.alpha:g} x {args.start} + {args.alpha:g} x {args.finetuned}")


if __name__ == "__main__":
    main()
