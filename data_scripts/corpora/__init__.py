"""One module per corpus; REGISTRY maps the name used on the command line to its Corpus."""

import importlib

# The paper's Table 1 (public corpora), then others users commonly have.
MODULES = [
    "cmumosei", "cremad", "emovdb", "iemocap", "jlcorpus", "msppodcast", "mspimprov", "ravdess", "savee", "tess",
    "vesus", "esd", "asvpesd", "ogvc", "studies", "emodb", "aesdd", "urdu", "masc",
    "turevdb", "nemo", "ased", "mesd", "cafe", "emovo", "shemo", "subesco", "meld",
]
REGISTRY = {module: importlib.import_module(f"{__name__}.{module}").CORPUS for module in MODULES}
