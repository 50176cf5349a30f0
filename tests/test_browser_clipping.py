"""No page cuts its text: the dashboard served on the demo database, every page opened from the
sidebar in Debian's headless Chromium and measured at 1024, 1400 and 1920 pixels wide (one
server, one browser page, the viewport resized between passes).

What counts as cut (CLIPPED_JS):
- a box of the page or the sidebar that hides what overflows it (overflow other than visible, or an ellipsis) and holds
  text wider or taller than itself: a metric card's label, value or change ("Cost per cust…"),
  a multiselect's chips, any caption or heading Streamlit shortens;
- a table (st.dataframe draws on a canvas, so its columns are read off the grid's own React
  props): wider than its box at 1400 and 1920 pixels, or sideways-scrolling at 1024 without its
  first column pinned; or a column heading wider than its column (text, padding both sides);
- a chart whose title, legend, annotation or axis title reaches past the figure's box, or
  whose bar and point labels overlap one another or sit on a marker ("2,2002,241").
"""

from __future__ import annotations

import browser_support as bs
import pytest
from test_browser_every_page import FIGURES_EXPECTED, PAGES, open_settled

pytestmark = pytest.mark.browser

WIDTHS = (1024, 1400, 1920)
# Below this many pixels a table of a dozen columns cannot fit beside the sidebar: it may scroll
# sideways, its first column (what the row is) pinned.
ALL_COLUMNS_FROM = 1400
RELAYOUT_MS = 1200  # Plotly and the grids lay out again after a resize

CLIPPED_JS = r"""
(allColumns) => {
  const main = document.querySelector('[data-testid=stMain]');
  const clipped = [];
  const checked = {boxes: 0, headings: 0, charts: 0};
  const text = (s) => (s || '').replace(/\s+/g, ' ').trim().slice(0, 90);
  const where = (el) => el.closest('[data-testid]')?.dataset.testid;

  // 1. boxes that hide their overflow, on the page and in the sidebar
  for (const el of document.querySelectorAll('[data-testid=stMain] *, [data-testid=stSidebar] *')) {
    if (!(el instanceof HTMLElement) || el.closest('.js-plotly-plot, [data-testid=stDataFrame]'))
      continue;
    if (el.clientWidth < 3 || !text(el.innerText)) continue;  // visually hidden, or no text
    const style = getComputedStyle(el);
    const hidesX = style.overflowX !== 'visible' || style.textOverflow === 'ellipsis';
    // (a navigation link's icon ligature is taller than its row: Streamlit's, and not cut)
    const hidesY = (style.overflowY === 'hidden' || style.overflowY === 'clip') && !el.closest('[data-testid=stSidebarNav]');
    checked.boxes += 1;
    if (hidesX && el.scrollWidth > el.clientWidth + 1)
      clipped.push(`${where(el)} cuts "${text(el.innerText)}" (${el.scrollWidth} px wide in ${el.clientWidth})`);
    else if (hidesY && el.scrollHeight > el.clientHeight + 2)
      clipped.push(`${where(el)} cuts "${text(el.innerText)}" (${el.scrollHeight} px tall in ${el.clientHeight})`);
  }

  // 2. tables: the glide grid's columns as it lays them out
  const measure = document.createElement('canvas').getContext('2d');
  for (const grid of main.querySelectorAll('[data-testid=stDataFrame]')) {
    if (!grid.checkVisibility()) continue;  // in a closed expander
    const canvas = grid.querySelector('canvas[data-testid=data-grid-canvas]');
    let fiber = canvas && canvas[Object.keys(canvas).find((k) => k.startsWith('__reactFiber'))];
    let props = null;
    for (let depth = 0; fiber && depth < 60; depth++, fiber = fiber.return) {
      const p = fiber.memoizedProps;
      if (p && Array.isArray(p.columns) && p.theme && p.columns.every((c) => c.width > 0)) {
        props = p;
        break;
      }
    }
    if (!props) { clipped.push(`a table whose columns could not be read: ${text(grid.innerText)}`); continue; }
    const titles = props.columns.map((c) => c.title);
    const scroller = grid.querySelector('.dvn-scroller');
    const overflow = scroller.scrollWidth - scroller.clientWidth;
    if (overflow > 1 && (allColumns || !(props.freezeColumns >= 1)))
      clipped.push(`table [${text(titles.join(' | '))}] is ${overflow} px wider than its ${scroller.clientWidth} px`);
    const theme = props.theme;
    measure.font = `${theme.headerFontStyle} ${theme.fontFamily}`;
    for (const c of props.columns) {
      checked.headings += 1;
      const icon = c.icon ? theme.headerIconSize + theme.cellHorizontalPadding : 0;
      const needs = Math.ceil(measure.measureText(c.title).width + 2 * theme.cellHorizontalPadding + icon);
      if (needs > c.width)
        clipped.push(`heading "${c.title}" needs ${needs} px, its column is ${c.width} (table [${text(titles.join(' | '))}])`);
    }
  }

  // 3. charts
  const inside = (r, box) =>
    r.left >= box.left - 1 && r.right <= box.right + 1 && r.top >= box.top - 1 && r.bottom <= box.bottom + 1;
  const overlap = (a, b) =>
    a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
  for (const plot of main.querySelectorAll('.js-plotly-plot')) {
    const svg = plot.querySelector('.main-svg');
    if (!svg) continue;
    checked.charts += 1;
    const box = svg.getBoundingClientRect();
    const chart = text(plot.querySelector('.gtitle')?.textContent) || 'a chart without a title';
    for (const part of plot.querySelectorAll('.gtitle, .legend, .annotation, .g-xtitle, .g-ytitle, .g-y2title')) {
      const r = part.getBoundingClientRect();
      if (r.width > 0 && !inside(r, box))
        clipped.push(`"${chart}": ${part.getAttribute('class')} "${text(part.textContent)}" reaches past the figure`);
    }
    const labels = [...plot.querySelectorAll('.bartext, .textpoint text')]
      .map((e) => [text(e.textContent), e.getBoundingClientRect()])
      .filter(([t, r]) => t && r.width > 0);
    for (let i = 0; i < labels.length; i++)
      for (let j = i + 1; j < labels.length; j++)
        if (overlap(labels[i][1], labels[j][1]))
          clipped.push(`"${chart}": labels "${labels[i][0]}" and "${labels[j][0]}" overlap`);
    const markers = [...plot.querySelectorAll('.scatterlayer .points path')]
      .map((e) => e.getBoundingClientRect())
      .filter((r) => r.width > 0);
    for (const [t, r] of labels)
      if (markers.some((m) => overlap(r, m))) clipped.push(`"${chart}": label "${t}" sits on a marker`);
  }
  return {clipped, checked};
}
"""


def test_no_page_cuts_its_text_at_1024_1400_or_1920_pixels(chromium, served_app):
    clipped: list[str] = []
    checked: dict[tuple[str, int], dict[str, int]] = {}
    with bs.open_page(chromium, served_app, viewport=(WIDTHS[1], 1000)) as page:
        page.get_by_test_id("stMetric").first.wait_for()
        for title, _, heading in PAGES:
            open_settled(page, title, heading)
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 1000})
                page.wait_for_timeout(RELAYOUT_MS)
                found = page.evaluate(CLIPPED_JS, width >= ALL_COLUMNS_FROM)
                clipped += [f"{title} at {width} px: {problem}" for problem in found["clipped"]]
                checked[title, width] = found["checked"]
            page.set_viewport_size({"width": WIDTHS[1], "height": 1000})

    assert not clipped, "\n".join(clipped)
    # The checks looked at something: every page's text boxes, and the tables' headings and the
    # charts where the demo has them (an empty page would pass the checks above).
    for (title, width), counts in checked.items():
        assert counts["boxes"] > 20, (title, width, counts)
        if title in FIGURES_EXPECTED:
            assert counts["charts"] and counts["headings"], (title, width, counts)
