"""How every benchmark words its goal: the same bold met / not met, so RESULTS.md reads alike."""


def verdict(met: bool) -> str:
    """``**met**`` or ``**not met**``."""
    return "**met**" if met else "**not met**"


def target_line(target: str, met: bool, detail: str) -> str:
    """A benchmark's closing line: its target, whether it was met, and the figure that decided."""
    return f"Target, {target}: {verdict(met)} ({detail})."
