"""The render farm: queued takes run as Ray tasks on a cluster and come back as takes.

Qt-free (cluster nodes import it); ``ray`` is imported only when a farm is used, never when the
Studio starts.

* :mod:`.jobs`     the data that travels: :class:`~.jobs.FarmJob` (a request whose inputs are
                   named by SHA-256) and :class:`~.jobs.FarmResult` (the take's files as bytes,
                   its recipe and voice match, or why it failed).
* :mod:`.cluster`  what runs on the cluster: the input cache (a detached actor holding inputs by
                   content hash, copied to each node's disk on first use), the progress board
                   (progress and cancel flags of one client's jobs) and the task that makes a
                   take on one GPU or a GPU group.
* :mod:`.client`   :class:`~.client.FarmClient`: connect to a cluster address, send inputs that
                   the cluster does not have yet, submit, poll progress, cancel, collect results.

The Studio's Qt adapter is :mod:`idlora_studio.workers.farm_worker`; the CLI's is
``idlora-studio generate --jobs FILE --ray ADDRESS``.
"""

from __future__ import annotations

NAMESPACE = "idlora-studio"
INPUT_CACHE_NAME = "idlora-input-cache"
#: How often Ray runs a take again when the worker process running it is lost (a node went
#: away, the process was killed); an error of the take itself is not retried.
MAX_RETRIES = 3
