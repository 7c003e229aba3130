"""Many runs: search spaces, the Ray Tune + Optuna driver, trials, the cluster, MLflow
tracking, results, export and the study's plots."""
