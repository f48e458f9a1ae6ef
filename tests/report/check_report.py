"""Draws the batch report in headless Chromium (Debian's, through its WebDriver) on a laptop-sized
window and reports what a reader would see, as JSON on stdout: per answer, its chart (kind, the
marks it says it drew and the marks that have a size on screen, its box, its title, axis labels,
legend entries) or its callout; the coverage tiles; what the page fetched; what the table filter
leaves visible. The Rust test compares that with the answers' rows.

Usage: check_report.py REPORT_HTML SCREENSHOT_PNG
"""

import json
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

WIDTH, HEIGHT = 1366, 768  # a common laptop screen

report, screenshot = sys.argv[1], sys.argv[2]
options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            f"--window-size={WIDTH},{HEIGHT}"):
    options.add_argument(arg)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
try:
    driver.get("file://" + report)
    inner_width = driver.execute_script("return window.innerWidth")
    sections = []
    for s in driver.find_elements(By.CSS_SELECTOR, "section.answer"):
        entry = {"id": s.get_attribute("id"), "heading": s.find_element(By.TAG_NAME, "h2").text}
        charts = s.find_elements(By.CSS_SELECTOR, "svg.chart")
        callouts = s.find_elements(By.CSS_SELECTOR, "p.callout")
        if charts:
            svg = charts[0]
            box = driver.execute_script(
                "const r = arguments[0].getBoundingClientRect();"
                "return {left: r.left, right: r.right, width: r.width, height: r.height};", svg)
            drawn = driver.execute_script(
                "return [...arguments[0].querySelectorAll('.mark')].filter(m => {"
                " const b = m.getBBox(); return b.width > 0 && b.height > 0; }).length;", svg)
            texts = lambda sel: [t.get_attribute("textContent").strip()
                                 for t in svg.find_elements(By.CSS_SELECTOR, sel)]
            entry["chart"] = {
                "kind": svg.get_attribute("data-chart"),
                "marks": int(svg.get_attribute("data-marks")),
                "drawn": drawn,
                "box": box,
                "label": svg.get_attribute("aria-label"),
                "title": driver.execute_script(
                    "const t = arguments[0].querySelector(':scope > title');"
                    "return t ? t.textContent : null;", svg),
                "axis_labels": texts(".axis-label"),
                "ticks": texts(".tick"),
                "legend": texts(".legend-item text"),
            }
        if callouts:
            entry["callout"] = callouts[0].text
        table_rows = s.find_elements(By.CSS_SELECTOR, "details tbody tr")
        entry["table_rows"] = len(table_rows)
        entry["filter"] = bool(s.find_elements(By.CSS_SELECTOR, "input.filter"))
        sections.append(entry)

    covered = [t.text for t in driver.find_elements(By.CSS_SELECTOR, "#covered .covered div")]
    fetched = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")

    # The per-country table's filter, as a reader uses it: open it, type a country.
    filtered = None
    first = next((s for s in sections if s["filter"]), None)
    if first:
        sec = driver.find_element(By.ID, first["id"])
        sec.find_element(By.TAG_NAME, "summary").click()
        rows = sec.find_elements(By.CSS_SELECTOR, "tbody tr")
        country = rows[-1].find_elements(By.TAG_NAME, "td")[0].text
        sec.find_element(By.CSS_SELECTOR, "input.filter").send_keys(country)
        visible = [r for r in sec.find_elements(By.CSS_SELECTOR, "tbody tr") if r.is_displayed()]
        filtered = {
            "section": first["id"],
            "typed": country,
            "rows": len(rows),
            "visible": len(visible),
            "visible_match": all(country.lower() in r.text.lower() for r in visible),
        }

    # The whole page from its top, as a reader first sees it (the filter left it scrolled).
    driver.execute_script("window.scrollTo(0, 0)")
    driver.set_window_size(WIDTH, driver.execute_script("return document.body.scrollHeight") + 40)
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(screenshot)
    print(json.dumps({
        "inner_width": inner_width,
        "sections": sections,
        "covered": covered,
        "fetched": fetched,
        "filter": filtered,
    }))
finally:
    driver.quit()
