"""What a campaign leaves behind: trial records read from Tune, MLflow runs, history,
exported configs, Optuna plots, live progress and provenance."""
