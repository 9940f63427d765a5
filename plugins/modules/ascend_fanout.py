#!/usr/bin/python
# Copyright: ascend-env developers
# Apache License 2.0 (see LICENSE)
"""Documentation of the action plugin ascend.env.ascend_fanout (plugins/action/ascend_fanout.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ascend_fanout
short_description: Fan the artefact store out to the hosts in waves, peers serving peers
description:
  - Runs on the controller only (an action plugin), once for the run (use it with C(run_once)).
  - Each wave is planned from what the hosts hold verified (C(ascend_env.fanout) - a host serves one other and pulls
    from one other per wave, so holders of a file double each wave; the controller sends each file once).  The
    wave's transfers run in parallel - controller to host by C(rsync) over SSH as the host's plan C(connection)
    says, peer to peer by C(rsync) on the destination over SSH with the fan-out key (authorized on the source only
    for C(rrsync -ro) on its store copy).
  - A peer checks the files it serves against the manifest's sha256 before serving them (a copy that no longer
    matches is never served); the destination checks what arrived; a transfer is retried (O(attempts), waits of
    O(backoff), doubled each time; each retry is printed as a warning); a source that fails is avoided and its
    receiver planned again from another source; a host the controller no longer reaches leaves the fan-out.
  - Writes the report O(report) (the final state, and per wave the transfers, failures, dead hosts, bytes and
    retries; C(bytes) - what the controller and the peers sent, as rsync counted it) and fails when a host still
    in the run lacks files after the last wave.
  - The hosts need the fan-out key and known_hosts in C(<store copy>/.fanout) and the key authorized (the
    C(ascend_artifacts) role does it before, and takes the key off after).
version_added: 1.0.0
author:
  - ascend-env developers (@ascend-env)
options:
  route:
    description: The registered result of C(ascend.env.ascend_artifacts) with C(step=route) (each host's files, their
      sizes and sha256).
    type: dict
    required: true
  hosts:
    description: The hosts still in the run (C(ansible_play_batch)); those of O(route) with files to receive take part.
    type: list
    elements: str
    required: true
  store:
    description: The controller's store.
    type: path
    required: true
  bwlimit:
    description: Bandwidth cap of each transfer in KiB/s (rsync --bwlimit); 0 is none.
    type: int
    default: 0
  attempts:
    description: Attempts of each transfer (and of each check a host did not answer) before it counts as failed.
    type: int
    default: 3
  backoff:
    description: Seconds before the first retry; doubled for each further one.
    type: float
    default: 1.0
  workers:
    description: Transfers run at once in a wave (at most); each is an ssh client (and for the controller's own
      transfers an rsync) on the controller.
    type: int
    default: 128
  report:
    description: Where the report goes on the controller (JSON).
    type: path
    required: true
notes:
  - No check mode (it moves files); the C(ascend_artifacts) role skips it in check mode.
"""

EXAMPLES = r"""
- name: Run the waves
  ascend.env.ascend_fanout:
    route: "{{ route }}"
    hosts: "{{ ansible_play_batch }}"
    store: /srv/ascend-store
    report: ~/.cache/ascend-env/fanout-report.json
  run_once: true
"""

RETURN = r"""
done:
  description: Whether every host still in the run holds what it needs.
  returned: always
  type: bool
waves:
  description: Waves run.
  returned: always
  type: int
bytes:
  description: Bytes sent by the controller and by the peers (rsync --stats).
  returned: always
  type: dict
complete:
  description: Hosts that hold every file they need.
  returned: always
  type: list
  elements: str
lost:
  description: Hosts the controller no longer reached (they left the fan-out).
  returned: always
  type: list
  elements: str
retries:
  description: Retries made over all waves.
  returned: always
  type: int
report:
  description: The report's path.
  returned: always
  type: str
"""
