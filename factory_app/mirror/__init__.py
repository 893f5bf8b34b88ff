"""Edge to cloud: each site's source topics mirrored to a central cluster by Apache Kafka's
MirrorMaker 2 (``sites``: the sites file; ``mm2_config``: MirrorMaker's properties;
``process``: running it; ``status``: how far each site is mirrored; ``central``: the
settings under which the site's own folds run centrally over its mirrored topics)."""
