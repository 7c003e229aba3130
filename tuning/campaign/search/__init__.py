"""The search itself: the Optuna searcher, the trial function, the driver that runs, resumes
and extends a campaign, its saved state and its stop control."""
