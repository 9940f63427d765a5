"""``python -m ascend_env doctor``: what is wrong on this host or container, and the exact fix.

Nothing is imported here: the command line starts the probe (``transport``) before it imports the checks
(``checks``, which registers the ``network`` group's on first use), so the two overlap.
"""
