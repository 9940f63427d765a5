"""``python -m ascend_env doctor``: what is wrong on this host or container, and the exact fix."""

# the network group's checks register themselves in checks.REGISTRY (after the npu group's)
from . import checks, network  # noqa: F401
