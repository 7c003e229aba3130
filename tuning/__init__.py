"""dualtune: one pretraining run (tuning.run), campaigns of runs (tuning.campaign), their
shared config contract (tuning.config) and the ``dualtune`` command line (tuning.cli)."""
