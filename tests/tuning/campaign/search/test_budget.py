"""The campaign's epoch budget counts each trial's epochs once."""
from tuning.campaign.search.driver import EpochBudget


def test_budget_counts_distinct_epochs_and_stops_the_campaign_when_spent():
    budget = EpochBudget(3)
    for trial, epoch in (("a", 1), ("a", 2), ("a", 2), ("b", 1)):  # ("a", 2) again: Tune's closing result
        assert budget(trial, {"epoch": epoch}) is False
        assert budget.stop_all() is (len(budget.epochs) >= 3)
    assert budget.stop_all()
