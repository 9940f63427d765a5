"""The simulated Ascend lab: real Docker, real sshd, faithful fakes of the proprietary parts.

Entry points: ``python -m ascend_env lab up|status|down|fault|store`` (``ascend_env.cli.lab``).  Everything the
lab makes lives under its prefix (``.lab`` in a source checkout, ``$ASCEND_ENV_LAB_PREFIX`` otherwise) and is
removed by ``lab down``; it never writes a real ``/usr/local/Ascend`` or ``/dev/davinci*``.  See docs/lab.md.
"""
