"""The first browser session of a freshly started server keeps its first sidebar choice.

Streamlit treats pages/ as a legacy multipage folder until st.navigation runs; widgets made
before that call belonged to the legacy page and lost their first change in the server's first
session. app.py now calls st.navigation first."""

from __future__ import annotations

import browser_support as bs
import pytest

pytestmark = pytest.mark.browser


def test_the_first_sidebar_choice_of_a_new_server_holds(chromium, served_app):
    with bs.open_page(chromium, served_app, viewport=(1400, 900)) as page:
        page.get_by_test_id("stMetric").first.wait_for()
        quarter = page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").first
        quarter.click()
        page.get_by_role("option", name="2025Q1", exact=True).click()
        page.get_by_text("2025Q1 ·").first.wait_for()
        page.get_by_test_id("stStatusWidget").wait_for(state="hidden")
        page.wait_for_timeout(1500)
        # still the chosen quarter once the run has settled
        assert page.get_by_text("2025Q1 ·").first.is_visible()
        assert not page.get_by_text("2026Q3 ·").first.is_visible()
