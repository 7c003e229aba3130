"""One pretraining: the training loop, where it runs (sessions), its data, its end-of-run
evaluation, its checkpoints, and the duality check of a checkpoint.  Imports nothing of
Optuna, MLflow, Ray Tune or the campaign layer (tests/tuning/test_layers.py checks it)."""
