"""ascend-env: version-consistent Huawei Ascend NPU environments.

Modules, one job each: :mod:`~ascend_env.versions` (the version type), :mod:`~ascend_env.matrix`
(the sourced compatibility data), :mod:`~ascend_env.resolver` (partial request -> complete stack),
:mod:`~ascend_env.compat` (the on-disk compatibility rules), :mod:`~ascend_env.render` (container,
sshd and shell-environment templates) and :mod:`~ascend_env.cli`.
"""

__version__ = "1.0.0"
