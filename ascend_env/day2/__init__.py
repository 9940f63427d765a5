"""Day two: the pure building blocks of upgrading a live fleet and accepting it (issue "Day two").

* :mod:`.busy` -- are the NPUs held by a process (on the host or in a container)?  The refusal and its fix.
* :mod:`.pingmesh` -- which device pairs of a rank table reach each other (``hccn_tool -ping``), each bad link named.
* :mod:`.results` -- acceptance results as JSON with a timestamp, and the drift from the last passing run.

Text and values in, frozen dataclasses out; the commands that produce the text run elsewhere (the probe, the roles).
"""
