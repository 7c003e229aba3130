"""Ray Train loop, trials, campaigns, MLflow logging, export and the dualtune CLI."""
