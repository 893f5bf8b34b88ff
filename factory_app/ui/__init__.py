"""The plant view: a page operators open in a browser (``factory ui``).

Its own process, so a browser never reaches a worker's event loop: it reads the asset state
from the workers' views (every worker of the group, found through ``/cluster/``), follows the
commands and their results on the log itself, folds past state with the same fold as
``factory state-at``, and appends operator commands for authenticated operators.
"""
