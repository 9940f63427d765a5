"""``python -m ascend_env doctor``: what is wrong on this host or container, and the exact fix."""
