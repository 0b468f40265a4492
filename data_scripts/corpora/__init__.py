"""One module per corpus; REGISTRY maps the name used on the command line to its Corpus."""

import importlib

# The paper's Table 1 (public corpora), then others users commonly have.
MODULES = [
    "cmumosei", "cremad", "emovdb", "iemocap", "jlcorpus", "msppodcast", "mspimprov", "ravdess", "savee", "tess",
    "vesus", "esd", "asvpesd", "ogvc", "studies", "emodb", "aesdd", "urdu", "masc",
    "turevdb", "nemo", "ased", "mesd", "cafe", "emovo", "shemo", "subesco", "meld",
]
REGISTRY = {module: importlib.import_module(f"{__name__}.{module}").CORPUS for module in MODULES}


def corpus_cards(names) -> dict:
    """{name: {"title", "language", "license"}} for the registered corpora among `names`: what a model records about
    its training data (trainer.record_training_data) so that its card lists each corpus's licence."""
    return {name: {"title": REGISTRY[name].title, "language": REGISTRY[name].language,
                   "license": REGISTRY[name].license} for name in names if name in REGISTRY}
