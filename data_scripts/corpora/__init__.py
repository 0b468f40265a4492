"""One module per corpus; REGISTRY maps the name used on the command line to its Corpus."""

import importlib

MODULES = ["ravdess", "tess", "savee", "turevdb"]
REGISTRY = {module: importlib.import_module(f"{__name__}.{module}").CORPUS for module in MODULES}
