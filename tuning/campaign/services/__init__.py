"""What a campaign runs on: the Ray cluster (connecting, fitting trials on its nodes), the
capacity watch for lost nodes, and the MLflow and Optuna stores."""
