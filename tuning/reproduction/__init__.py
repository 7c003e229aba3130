"""Reproducing the paper as a study: what a study is and the order its parts run (``study``), what
each part saves (``outcomes``) and runs (``reruns``), and the report beside the paper (``report``,
its claims in ``claims``)."""
