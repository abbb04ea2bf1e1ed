"""The backend tests import transformers' image processors and open_clip themselves, before any condsim
loader runs: declare torchvision's missing operator schemas first, as the loaders do (CPU torch beside
PyPI's CUDA-built torchvision; see condsim.encoders.torchvision_compat)."""

from condsim.encoders import ensure_torchvision_importable

ensure_torchvision_importable()
