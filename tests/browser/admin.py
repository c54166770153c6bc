"""A staff member's visit to the admin in headless Chromium, in one browser session: log in on
the admin's own page, search and filter the contacts, add a contact (the company picked with
the autocomplete search box) with a validation error and fix it, edit a company with a contact
added inline by "Add another contact", delete the company. Under the example site's strict
Content-Security-Policy the browser must report no violation, and keyboard focus must show.
Screenshots of the change list and the change form (light, dark, phone width) are written to
OUT_DIR.

    python admin.py BASE_URL OUT_DIR [CHROMIUM]

Run by tests/e2e/browser.rs against `manage runserver` on a copy of the demo database.
"""

import os
import sys
import time

from playwright.sync_api import expect, sync_playwright

from login_and_submit import CHROMIUM_ARGS, TIMEOUT_MS

NEW_CONTACT = ("Grace", "Hopper <Navy>")
INLINE_CONTACT = ("Inline", "Added")


def shot(page, out, name):
    path = os.path.join(out, f"admin-{name}.png")
    page.screenshot(path=path, full_page=True)
    return path


def run(base, out, chromium):
    started = time.monotonic()
    shots = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, timeout=TIMEOUT_MS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 860}, color_scheme="light")
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            expect.set_options(timeout=TIMEOUT_MS)
            violations = []
            errors = []
            page.on("console", lambda m: violations.append(f"{page.url}: {m.text}") if "Content Security Policy" in m.text else None)
            page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))

            # Log in on the admin's own page.
            page.goto(f"{base}/admin/")
            expect(page).to_have_url(f"{base}/admin/login/?next=%2Fadmin%2F")
            page.get_by_label("Username").fill("demo")
            page.get_by_label("Password").fill("demo")
            with page.expect_navigation():
                page.get_by_role("button", name="Log in").click()
            expect(page).to_have_url(f"{base}/admin/")
            expect(page.locator("h1")).to_have_text("Site administration")

            # Keyboard focus is visible: tab to the first link and read its outline.
            page.keyboard.press("Tab")
            page.keyboard.press("Tab")
            outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
            if outline in ("none", ""):
                raise AssertionError(f"the focused element has no outline ({outline!r})")

            # The contacts: search across the company's name, then a filter.
            page.get_by_role("link", name="Contacts", exact=True).first.click()
            expect(page.locator("h1")).to_have_text("Select contact to change")
            expect(page.locator(".result-count")).to_contain_text("12 contacts")
            page.get_by_label("Search contacts").fill("acme")
            with page.expect_navigation():
                page.get_by_role("button", name="Search").click()
            expect(page.locator(".result-count")).to_contain_text("3 contacts")
            expect(page.locator("#result_list tbody tr")).to_have_count(3)
            page.get_by_role("link", name="Clear search").click()
            page.locator(".changelist-filter").get_by_role("link", name="Blue Harbor Foods").click()
            expect(page.locator(".result-count")).to_contain_text("2 contacts")
            # The select-all box selects and counts.
            page.get_by_label("Select all contacts on this page").check()
            expect(page.locator(".action-counter")).to_have_text("2 of 2 selected")
            page.get_by_label("Select all contacts on this page").uncheck()
            page.goto(f"{base}/admin/crm/contact/")
            shots.append(shot(page, out, "changelist"))

            # Add a contact: the company from the autocomplete search, a bad email first.
            page.get_by_role("link", name="Add contact", exact=True).click()
            expect(page.locator("h1")).to_have_text("Add contact")
            page.get_by_label("First name").fill(NEW_CONTACT[0])
            page.get_by_label("Last name").fill(NEW_CONTACT[1])
            company = page.get_by_role("combobox", name="Company")
            company.fill("cedar")
            option = page.get_by_role("option", name="Cedar Health Clinics")
            option.click()
            expect(company).to_have_value("Cedar Health Clinics")
            page.get_by_label("Email").fill("not-an-email")
            with page.expect_navigation():
                page.get_by_role("button", name="Save", exact=True).click()
            expect(page.locator(".errornote")).to_have_text("Please correct the errors below.")
            expect(page.locator(".field-email .errorlist")).to_have_text("Enter a valid email address.")
            expect(page.get_by_role("combobox", name="Company")).to_have_value("Cedar Health Clinics")
            shots.append(shot(page, out, "change-form-errors"))
            page.get_by_label("Email").fill("grace@example.com")
            with page.expect_navigation():
                page.get_by_role("button", name="Save", exact=True).click()
            expect(page).to_have_url(f"{base}/admin/crm/contact/")
            name = f"{NEW_CONTACT[0]} {NEW_CONTACT[1]}"
            expect(page.locator(".messagelist .success")).to_have_text(f"The contact “{name}” was added successfully.")
            expect(page.locator("#result_list")).to_contain_text(name)

            # Edit a company: a new contact added inline with "Add another contact".
            page.goto(f"{base}/admin/crm/company/")
            page.get_by_role("link", name="Blue Harbor Foods").click()
            expect(page.locator("h1")).to_have_text("Change company")
            page.get_by_label("City").fill("Porto")
            rows = page.locator("#contact_set-group tbody tr")
            before = rows.count()
            page.get_by_role("button", name="Add another contact").click()
            expect(rows).to_have_count(before + 1)
            new_row = rows.nth(before)
            new_row.get_by_label("First name").fill(INLINE_CONTACT[0])
            new_row.get_by_label("Last name").fill(INLINE_CONTACT[1])
            new_row.get_by_label("Email").fill("inline@example.com")
            shots.append(shot(page, out, "change-form"))
            with page.expect_navigation():
                page.get_by_role("button", name="Save and continue editing").click()
            expect(page.locator(".messagelist .success")).to_contain_text("was changed successfully")
            expect(page.get_by_label("City")).to_have_value("Porto")
            expect(page.locator("#contact_set-group")).to_contain_text(" ".join(INLINE_CONTACT))
            # Its history names the added contact.
            page.get_by_role("link", name="History").click()
            expect(page.locator("#change-history")).to_contain_text(f"Added contact “{' '.join(INLINE_CONTACT)}”.")
            expect(page.locator("#change-history")).to_contain_text("Porto")
            page.go_back()

            # Delete it: the confirmation lists its contacts, then it is gone.
            page.get_by_role("link", name="Delete").click()
            expect(page.locator("h1")).to_have_text("Are you sure?")
            expect(page.locator(".deleted-objects")).to_contain_text(" ".join(INLINE_CONTACT))
            with page.expect_navigation():
                page.get_by_role("button", name="Yes, I’m sure").click()
            expect(page.locator(".messagelist .success")).to_have_text("The company “Blue Harbor Foods” was deleted successfully.")
            expect(page.locator("#result_list")).not_to_contain_text("Blue Harbor Foods")

            # The same pages dark, and at a phone's width.
            page.emulate_media(color_scheme="dark")
            page.goto(f"{base}/admin/crm/contact/")
            shots.append(shot(page, out, "changelist-dark"))
            page.goto(f"{base}/admin/crm/company/1/change/")
            shots.append(shot(page, out, "change-form-dark"))
            page.emulate_media(color_scheme="light")
            page.set_viewport_size({"width": 390, "height": 844})
            page.goto(f"{base}/admin/crm/contact/")
            width = page.evaluate("() => document.documentElement.scrollWidth")
            if width > 390 + 1:
                raise AssertionError(f"the change list is {width}px wide on a 390px phone: the page scrolls sideways")
            shots.append(shot(page, out, "changelist-phone"))
            page.goto(f"{base}/admin/crm/company/1/change/")
            width = page.evaluate("() => document.documentElement.scrollWidth")
            if width > 390 + 1:
                raise AssertionError(f"the change form is {width}px wide on a 390px phone")
            shots.append(shot(page, out, "change-form-phone"))

            if violations:
                raise AssertionError("the Content-Security-Policy blocked:\n" + "\n".join(violations))
            if errors:
                raise AssertionError("the admin's script failed:\n" + "\n".join(errors))
        finally:
            browser.close()
    print(f"admin: logged in, searched, filtered, added a contact after an error, edited a company inline, deleted it, "
          f"no CSP violation, in {time.monotonic() - started:.1f}s; screenshots {', '.join(shots)}")


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    base, out = sys.argv[1].rstrip("/"), sys.argv[2]
    chromium = sys.argv[3] if len(sys.argv) == 4 else "/usr/bin/chromium"
    try:
        run(base, out, chromium)
    except Exception as e:  # Playwright's timeouts and failed expectations both say what they waited for
        sys.exit(f"admin browser check failed: {type(e).__name__}: {e}")


if __name__ == "__main__":
    main()
