"""Raw clip logits and pooled features of a built split, in batches: the one forward loop that evaluation, adaptation
and the head refit read a dataset through. It sits below all three, so none of them imports another to get it."""

import numpy as np
import torch
from tqdm.auto import tqdm


@torch.no_grad()
def predict_logits(model, rows, collator, batch_size: int = 8, desc: str = "evaluating", return_features=False,
                   bf16: bool = False):
    """Raw clip logits (n, labels), in the order of `rows` (and the pooled features (n, head_input_size) with
    `return_features`). Batches clips of similar length to waste little. `bf16`: forwards under bf16 autocast."""
    model.eval()
    order = np.argsort(np.asarray(rows["duration"]), kind="stable")
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    out = np.zeros((len(order), model.config.num_labels), dtype=np.float32)
    features = np.zeros((len(order), model.head_input_size), dtype=np.float32)
    for start in tqdm(range(0, len(order), batch_size), desc=desc, leave=False):
        index = order[start : start + batch_size]
        batch = collator([rows[int(i)] for i in index])
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):  # the model only, not the features
            result = model(input_features=batch["input_features"].to(device, dtype),
                           attention_mask=batch["attention_mask"].to(device), window_counts=batch.get("window_counts"),
                           apply_logit_adjustment=False)
        out[index] = result.logits.float().cpu().numpy()
        features[index] = result.pooled_features.float().cpu().numpy()
    return (out, features) if return_features else out
