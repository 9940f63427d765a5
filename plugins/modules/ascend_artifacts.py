#!/usr/bin/python
# Copyright: ascend-env developers
# Apache License 2.0 (see LICENSE)
"""Documentation of the action plugin ascend.env.ascend_artifacts (plugins/action/ascend_artifacts.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ascend_artifacts
short_description: Work out what each host lacks of the artefact store, and how the files travel
description:
  - Runs on the controller only (an action plugin), once for the hosts of the play (use it with C(run_once)); the
    result, registered, is every host's.
  - With O(step=need), compares each host's needs from its slice of the fleet plan (C(ascend_plan) - the CANN
    installers of its environments, the image tar, the wheels of its frameworks, conda's folder) with the store's
    manifest (read once) and the host's one-call reading (C(ascend_host_state.store) - sizes and the record of
    what arrived verified).  A host that lacks nothing gets C(todo=false).  When no host has anything to do, it
    also prints the line C(artefacts - <mode> (<why>)).
  - With O(step=route), takes the result of O(step=need) less the files the hosts' own check found in place
    (the registered C(ascend_artifacts_unrecorded_check)), decides how the files travel (C(shared), C(fanout),
    C(direct)) and prints it with its reason; for a fan-out it makes the fan-out key on the controller (once) and
    gathers the hosts' keys from the controller's known_hosts.  Fails when fan-out is required but cannot run, or a
    host's key is unknown.
  - The rules are the Python package's C(ascend_env.artifacts) (pure functions, unit-tested).
version_added: 1.0.0
author:
  - ascend-env developers (@ascend-env)
options:
  step:
    description: What to work out.
    type: str
    choices: [need, route]
    required: true
  hosts:
    description: The hosts of the run (C(ansible_play_batch)).
    type: list
    elements: str
    required: true
  store:
    description: With O(step=need), the controller's store (with C(manifest.json)).
    type: path
  wheels:
    description: With O(step=need), copy the store's wheels (a host's C(ascend_artifacts_wheels) overrides it).
    type: bool
    default: true
  fanout:
    description: The setting C(ascend_artifacts_fanout) - auto, true or false.
    type: raw
    default: auto
  need:
    description: With O(step=route), the registered result of O(step=need).
    type: dict
  key:
    description: With O(step=route), the fan-out key on the controller (made when missing).
    type: path
  known_hosts:
    description: With O(step=route), the controller's known_hosts; empty - each host's C(UserKnownHostsFile) of its
      ssh options, else C(~/.ssh/known_hosts).
    type: str
    default: ""
notes:
  - Check mode is supported; O(step=route) then names the files each host would receive.
"""

EXAMPLES = r"""
- name: Work out what each host lacks
  ascend.env.ascend_artifacts:
    step: need
    hosts: "{{ ansible_play_batch }}"
    store: /srv/ascend-store
  register: need
  run_once: true
"""

RETURN = r"""
todo:
  description: Whether any host has anything to do (O(step=need)).
  returned: when step is need
  type: bool
hosts:
  description: Per host - with O(step=need) todo, send, unrecorded, unrecorded_sums, leftover, unlisted, shared,
    record; with O(step=route) send and sums (sha256sum's input for the files).
  returned: always
  type: dict
files:
  description: Size and sha256 of every file some host lacks.
  returned: always
  type: dict
mode:
  description: How the files travel - shared, fanout or direct.
  returned: with step route, and with step need when nothing is to do
  type: str
why:
  description: The reason for the mode, as the printed line gives it.
  returned: with mode
  type: str
public_key:
  description: The fan-out key's public half.
  returned: with step route when the mode is fanout
  type: str
known_hosts:
  description: The controller's known_hosts lines of the hosts that receive files (the peers' file).
  returned: with step route when the mode is fanout
  type: str
"""
