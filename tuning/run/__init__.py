"""One pretraining: the training loop, where it runs (sessions), its data, its end-of-run
evaluation and its checkpoints (their analysis is tuning.analysis).  Imports nothing of
Optuna, MLflow, Ray Tune or the campaign layer (tests/tuning/test_layers.py checks it)."""
