// The djambda admin's script: every page works without it; with it, the change list's
// checkboxes select all and count, foreign keys with a search box ask the server as you type,
// many-to-many pickers filter, inlines add rows without a reload, and the sidebars fold away
// on a phone. No inline script or style: it runs under a strict Content-Security-Policy.
(function () {
  "use strict";

  function each(selector, root, fn) {
    Array.prototype.forEach.call((root || document).querySelectorAll(selector), fn);
  }

  // Narrower screens: the navigation (below 1440px) and the filters (below 1024px) start
  // folded, as the stylesheet lays them out above the page there.
  if (window.matchMedia) {
    if (window.matchMedia("(max-width: 1440px)").matches) {
      each("details.nav-sidebar", document, function (d) { d.removeAttribute("open"); });
    }
    if (window.matchMedia("(max-width: 1024px)").matches) {
      each("details.changelist-filter", document, function (d) { d.removeAttribute("open"); });
    }
  }

  // The change list: select all, the counter, "select all N", rows highlighted.
  function changelist(form) {
    var toggle = form.querySelector("#action-toggle");
    var boxes = form.querySelectorAll("input.action-select");
    var counter = form.querySelector(".action-counter");
    var across = form.querySelector("input.select-across");
    var question = form.querySelector(".all-question");
    var allSelected = form.querySelector(".all-selected");
    var total = boxes.length;
    function update() {
      var n = 0;
      Array.prototype.forEach.call(boxes, function (b) {
        if (b.checked) { n += 1; }
        var row = b.closest("tr");
        if (row) { row.classList.toggle("selected", b.checked); }
      });
      if (counter) { counter.textContent = n + " of " + total + " selected"; }
      if (toggle) {
        toggle.checked = n === total && total > 0;
        toggle.indeterminate = n > 0 && n < total;
      }
      if (question) { question.classList.toggle("hidden", !(n === total && total > 0) || (across && across.value === "1")); }
      if (n < total && across && across.value === "1") { clearAcross(); }
    }
    function clearAcross() {
      if (across) { across.value = "0"; }
      if (allSelected) { allSelected.classList.add("hidden"); }
      if (counter) { counter.classList.remove("hidden"); }
    }
    if (toggle) {
      toggle.addEventListener("change", function () {
        Array.prototype.forEach.call(boxes, function (b) { b.checked = toggle.checked; });
        if (!toggle.checked) { clearAcross(); }
        update();
      });
    }
    Array.prototype.forEach.call(boxes, function (b) { b.addEventListener("change", update); });
    var selectAll = form.querySelector("button.select-all");
    if (selectAll) {
      selectAll.addEventListener("click", function () {
        across.value = "1";
        question.classList.add("hidden");
        allSelected.classList.remove("hidden");
        counter.classList.add("hidden");
      });
    }
    var clear = form.querySelector("button.clear-selection");
    if (clear) {
      clear.addEventListener("click", function () {
        Array.prototype.forEach.call(boxes, function (b) { b.checked = false; });
        clearAcross();
        update();
      });
    }
    form.addEventListener("submit", function (event) {
      var action = form.querySelector("select[name=action]");
      var chosen = Array.prototype.some.call(boxes, function (b) { return b.checked; }) || (across && across.value === "1");
      if (action && action.value && !chosen) {
        event.preventDefault();
        window.alert("Items must be selected in order to perform actions on them. No items have been changed.");
      }
    });
    update();
  }
  var clForm = document.getElementById("changelist-form");
  if (clForm) { changelist(clForm); }

  // Autocomplete: the id input gets a search box in front that asks the admin's
  // autocomplete endpoint as you type (a WAI-ARIA combobox with a listbox).
  var comboCount = 0;
  function autocomplete(wrapper) {
    var key = wrapper.querySelector("input.autocomplete-key");
    if (!key) { return; }
    comboCount += 1;
    var id = key.id + "_search";
    var listId = key.id + "_listbox";
    var label = wrapper.querySelector("label[for='" + key.id + "']");
    var help = wrapper.querySelector(".helptext");
    var combo = document.createElement("div");
    combo.className = "combo";
    var input = document.createElement("input");
    input.type = "text";
    input.id = id;
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", listId);
    input.setAttribute("autocomplete", "off");
    input.placeholder = "Type to search";
    input.value = wrapper.getAttribute("data-current-label") || "";
    if (key.getAttribute("aria-invalid")) { input.setAttribute("aria-invalid", "true"); }
    var list = document.createElement("ul");
    list.id = listId;
    list.setAttribute("role", "listbox");
    list.hidden = true;
    var status = document.createElement("div");
    status.className = "status";
    status.setAttribute("aria-live", "polite");
    combo.appendChild(input);
    combo.appendChild(list);
    key.type = "hidden";
    key.parentNode.insertBefore(combo, key);
    combo.parentNode.insertBefore(status, combo.nextSibling);
    if (label) { label.setAttribute("for", id); }
    if (help) { help.textContent = "Type part of a name and choose from the list."; input.setAttribute("aria-describedby", help.id); }
    var timer = null;
    var active = -1;
    var results = [];
    var url = wrapper.getAttribute("data-autocomplete-url");
    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }
    function choose(i) {
      var r = results[i];
      if (!r) { return; }
      key.value = r.id;
      input.value = r.text;
      status.textContent = "Chosen: " + r.text;
      close();
    }
    function highlight(i) {
      var items = list.querySelectorAll("[role=option]");
      Array.prototype.forEach.call(items, function (li, j) { li.setAttribute("aria-selected", j === i ? "true" : "false"); });
      active = i;
      if (items[i]) {
        input.setAttribute("aria-activedescendant", items[i].id);
        items[i].scrollIntoView({ block: "nearest" });
      }
    }
    function search() {
      var term = input.value;
      fetch(url + "&term=" + encodeURIComponent(term), { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (resp) { if (!resp.ok) { throw new Error(resp.status); } return resp.json(); })
        .then(function (data) {
          if (input.value !== term) { return; }
          results = data.results || [];
          list.textContent = "";
          results.forEach(function (r, i) {
            var li = document.createElement("li");
            li.id = listId + "_" + i;
            li.setAttribute("role", "option");
            li.setAttribute("aria-selected", "false");
            li.textContent = r.text;
            li.addEventListener("mousedown", function (e) { e.preventDefault(); choose(i); });
            list.appendChild(li);
          });
          list.hidden = results.length === 0;
          input.setAttribute("aria-expanded", results.length ? "true" : "false");
          status.textContent = results.length ? results.length + (data.pagination && data.pagination.more ? "+" : "") + " results" : "No results";
          active = -1;
        })
        .catch(function () { status.textContent = "The search failed; enter the id instead."; key.type = "text"; });
    }
    input.addEventListener("input", function () {
      if (input.value === "") { key.value = ""; }
      window.clearTimeout(timer);
      timer = window.setTimeout(search, 200);
    });
    input.addEventListener("focus", function () { if (!input.value) { search(); } });
    input.addEventListener("keydown", function (e) {
      if (e.key === "ArrowDown") { e.preventDefault(); if (list.hidden) { search(); } else { highlight(Math.min(active + 1, results.length - 1)); } }
      else if (e.key === "ArrowUp") { e.preventDefault(); highlight(Math.max(active - 1, 0)); }
      else if (e.key === "Enter" && !list.hidden && active >= 0) { e.preventDefault(); choose(active); }
      else if (e.key === "Escape") { close(); }
    });
    input.addEventListener("blur", function () { window.setTimeout(close, 100); });
  }
  each(".field-autocomplete", document, autocomplete);

  // Many-to-many pickers: a filter box and a count of what is chosen.
  each(".field-m2m", document, function (fieldset) {
    var choices = fieldset.querySelector(".m2m-choices");
    var labels = fieldset.querySelectorAll(".m2m-choices label");
    if (!choices || labels.length < 8) { return; }
    var filter = document.createElement("input");
    filter.type = "search";
    filter.className = "m2m-filter";
    filter.placeholder = "Filter";
    filter.setAttribute("aria-label", "Filter " + (fieldset.querySelector("legend") || {}).textContent);
    var count = document.createElement("div");
    count.className = "m2m-count";
    count.setAttribute("aria-live", "polite");
    choices.parentNode.insertBefore(filter, choices);
    choices.parentNode.insertBefore(count, choices.nextSibling);
    function recount() {
      var n = fieldset.querySelectorAll(".m2m-choices input:checked").length;
      count.textContent = n + " chosen";
    }
    filter.addEventListener("input", function () {
      var q = filter.value.toLowerCase();
      Array.prototype.forEach.call(labels, function (l) { l.hidden = q && l.textContent.toLowerCase().indexOf(q) === -1; });
    });
    choices.addEventListener("change", recount);
    recount();
  });

  // Inlines: "Add another" copies the empty form and counts it in TOTAL_FORMS.
  each(".inline-group", document, function (group) {
    var template = group.querySelector("template.empty-form");
    var button = group.querySelector("button.add-row");
    var total = group.querySelector("input.total-forms");
    if (!template || !button || !total) { return; }
    var max = parseInt(group.getAttribute("data-max"), 10) || 1000;
    var container = group.querySelector("tbody") || group.querySelector(".stacked-forms");
    button.hidden = false;
    button.addEventListener("click", function () {
      var n = parseInt(total.value, 10) || 0;
      if (n >= max) { return; }
      var html = template.innerHTML.replace(/__prefix__/g, String(n));
      var holder = document.createElement(container.tagName === "TBODY" ? "tbody" : "div");
      holder.innerHTML = html;
      var row = holder.firstElementChild;
      container.appendChild(row);
      total.value = String(n + 1);
      var first = row.querySelector("input, select, textarea");
      if (first) { first.focus(); }
      if (n + 1 >= max) { button.hidden = true; }
    });
  });
})();
