"""Replay: a campaign's decisions made again, by the real Ray Tune schedulers and the
campaign's Optuna searcher, over recorded learning curves instead of training.

``table`` reads recorded curves (the SSL learning-curve table under benchmarks/results/, or a
finished campaign's own trials); ``engine`` plays them to the decision-makers, with the recorded
epoch times and the campaign's concurrency; ``strategies`` names the searches compared;
``compare`` turns many seeds of them into anytime curves, regret and speed-ups with intervals."""
