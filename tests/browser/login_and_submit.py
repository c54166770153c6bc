"""A person's visit to the example site in headless Chromium: log in as demo, add a company
through the form, see the page it lands on, look at the CRM's other lists, log out. Under the
site's Content-Security-Policy the browser must report no violation on any of those pages.

    python login_and_submit.py BASE_URL SCREENSHOT.png [CHROMIUM]

Run by tests/e2e/browser.rs against `manage runserver` on a copy of the demo database.
"""

import sys
import time

from playwright.sync_api import expect, sync_playwright

# Characters a template must escape and a query must bind: the page has to show them as typed.
NAME = "Chromium & <Sons>; DROP TABLE company;--"
SLUG = "chromium-sons"

# Debian's Chromium, not a Playwright download (this machine reaches no browser download site).
# The background-networking flags keep it from calling Google's services, which the closed
# network here would leave it waiting on.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root, where the sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000


def run(base, screenshot, chromium):
    started = time.monotonic()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, timeout=TIMEOUT_MS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(TIMEOUT_MS)
            # Chromium reports each thing a policy blocks on the console ("Refused to apply
            # inline style because it violates the following Content Security Policy …").
            violations = []
            page.on("console", lambda m: violations.append(f"{page.url}: {m.text}") if "Content Security Policy" in m.text else None)
            expect.set_options(timeout=TIMEOUT_MS)

            page.goto(f"{base}/")
            expect(page).to_have_url(f"{base}/accounts/login/?next=%2F")
            page.fill("#id_username", "demo")
            page.fill("#id_password", "demo")
            with page.expect_navigation():
                page.get_by_role("button", name="Log in").click()
            expect(page).to_have_url(f"{base}/")
            expect(page.locator("h1")).to_have_text("Dashboard")

            page.goto(f"{base}/companies/new/")
            page.fill("#id_name", NAME)
            page.fill("#id_slug", SLUG)
            page.fill("#id_industry", "Browsers")
            page.fill("#id_city", "Oslo")
            # With a scheme: the field is an <input type=url>, and Chromium refuses to submit
            # a bare "example.com" there ("Please enter a URL.").
            page.fill("#id_website", "https://example.com")
            with page.expect_navigation():
                page.get_by_role("button", name="Save").click()
            expect(page).to_have_url(f"{base}/companies/{SLUG}/")
            # to_have_text compares the text a person sees: markup typed into the name would
            # have become elements, and lost its angle brackets, had the server not escaped it.
            expect(page.locator("li.message.success")).to_have_text(f"The company “{NAME}” was added.")
            expect(page.locator("h1")).to_have_text(NAME)
            page.screenshot(path=screenshot, full_page=True)

            lists = [("/companies/", "Companies"), ("/contacts/", "Contacts"), ("/deals/", "Deals"), ("/forecast/", "Deal forecast")]
            for path, heading in lists:
                page.goto(f"{base}{path}")
                expect(page.locator("h1")).to_contain_text(heading)
            if violations:
                raise AssertionError("the Content-Security-Policy blocked:\n" + "\n".join(violations))
            # The listener does catch what the policy blocks: an inline style with no nonce.
            page.evaluate("() => { const s = document.createElement('style'); s.textContent = 'h1 { color: red }'; document.head.appendChild(s); }")
            page.wait_for_timeout(500)
            if not violations:
                raise AssertionError("an inline style without the nonce was not reported: is the policy sent?")

            with page.expect_navigation():
                page.get_by_role("button", name="Log out").click()
            expect(page.locator("h1")).to_have_text("Logged out")
        finally:
            browser.close()
    print(f"logged in, added {NAME!r}, saw four lists with no CSP violation, logged out in {time.monotonic() - started:.1f}s; screenshot {screenshot}")


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    base, screenshot = sys.argv[1].rstrip("/"), sys.argv[2]
    chromium = sys.argv[3] if len(sys.argv) == 4 else "/usr/bin/chromium"
    try:
        run(base, screenshot, chromium)
    except Exception as e:  # Playwright's timeouts and failed expectations both say what they waited for
        sys.exit(f"browser check failed: {type(e).__name__}: {e}")


if __name__ == "__main__":
    main()
