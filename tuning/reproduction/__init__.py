"""Reproducing the paper: a tuning campaign, then every variant rerun over seeds
(``reruns``), and the report beside the paper's numbers (``report``).  Built on campaigns."""
