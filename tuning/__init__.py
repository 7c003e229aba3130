"""dualtune: one pretraining run (tuning.run), campaigns of runs (tuning.campaign), the
paper's reproduction built on them (tuning.reproduction), their shared config contract
(tuning.config) and the ``dualtune`` command line (tuning.cli)."""
