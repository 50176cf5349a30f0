"""What every AppTest of the dashboard uses: the fixtures (test modules import them by name)
and `run_app`, the dashboard after one run on a database file."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import app_test

APP = Path(__file__).resolve().parent.parent / "app.py"


class NavigationOnly(PagesManager):
    """A PagesManager that never falls back to Streamlit's legacy pages/ directory mode."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        PagesManager.uses_pages_directory = False


def run_app(
    monkeypatch: pytest.MonkeyPatch, database: Path, timeout: float = 120
) -> app_test.AppTest:
    """Return the dashboard (app.py) after one AppTest run on the database file (FUNNELCAST_DB);
    each later run fails after timeout seconds."""
    monkeypatch.setenv("FUNNELCAST_DB", str(database))
    return app_test.AppTest.from_file(str(APP), default_timeout=timeout).run()


@pytest.fixture(autouse=True)
def navigation_only(monkeypatch):
    """Run app.py on every AppTest run, as the server does.

    AppTest forgets before each run that app.py uses st.navigation; seeing a pages/ directory
    it then reruns the last page's file on its own, without app.py and its sidebar.
    """
    monkeypatch.setattr(app_test, "PagesManager", NavigationOnly)


@pytest.fixture(autouse=True)
def release_streamlit_caches():
    """Close the cached connections after each test, so no test inherits another's files."""
    yield
    st.cache_resource.clear()
    st.cache_data.clear()
