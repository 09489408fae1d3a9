"""Stand-ins for the systems this service does not own (development, demo and tests only).

* :mod:`.ddl` - the external tables ``coin_metrics``, ``ref_coin_phases``, ``ml_models``;
* :mod:`.fates`, :mod:`.simulator`, :mod:`.stream` - a deterministic generator of pump.fun
  coin life cycles as ``coin_metrics`` rows;
* :mod:`.collector` - inserts simulated rows into ``coin_metrics`` like the collector;
* :mod:`.training` (with :mod:`.labels`, :mod:`.metrics`, :mod:`.ml_models`) - trains demo
  models the way the training service does and records them in ``ml_models``;
* :mod:`.training_service` - the training service's HTTP API (list, details, download);
* :mod:`.commands` - stand-in tables on demand for the commands ``dev-schema``,
  ``simulate``, ``train-demo``, ``training-service`` (those are in ``cli/stand_ins.py``).

Nothing here runs at import time. See ``docs/stand-ins.md``.
"""
