"""Headless Chromium for the UI tests: a page's DOM after its scripts ran, as text."""
import re
import shutil
import subprocess


def render(url: str, profile_dir) -> str:
    """The page's DOM after headless Chromium has run its scripts (a wide window, so that
    virtualised tables draw every column)."""
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is not installed (make test installs it)"
    out = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          f"--user-data-dir={profile_dir}", "--window-size=3000,1400",
                          "--virtual-time-budget=30000", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120)
    return out.stdout


def visible_text(page: str) -> str:
    """The page's text as a reader sees it: no styles, scripts or tags, spaces collapsed."""
    text = re.sub(r"<style.*?</style>|<script.*?</script>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))
