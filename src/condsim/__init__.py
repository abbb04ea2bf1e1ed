"""condsim: conditional image similarity on fixed vision-language embeddings.

Image embeddings are computed once; a condition ("colour", "shape", "count", ...) is a cheap
transform of those embeddings applied at query time (CLAY, CRL, re-ranking, comparative prompts).
"""

from condsim.errors import CondsimError

__version__ = "0.1.0"

__all__ = ["CondsimError", "__version__"]
