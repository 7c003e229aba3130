"""Many runs.  Shared by every room: search spaces (``space``), a trial's status
(``statuses``), the runs folder (``paths``) and the private library APIs (``private_apis``).
The rooms, lowest first: ``services`` (the Ray cluster, capacity, the stores), ``records``
(results, MLflow, history, export, plots, progress, provenance), ``search`` (the searcher,
the trial, the driver, the campaign's state and control), ``replay`` (recorded curves played
to the search's own scheduler and searcher)."""
