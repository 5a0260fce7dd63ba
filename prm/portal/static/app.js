// Shows every <time datetime="..."> in the viewer's own time zone; the UTC value stays in the title.
(function () {
  "use strict";
  // The pages' one date format, "4 Mar 2026, 10:00 CET", as templating.date_text writes it in UTC.
  var format = new Intl.DateTimeFormat("en-GB", {
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
    timeZoneName: "short",
  });
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function text(moment) {
    var parts = {};
    format.formatToParts(moment).forEach(function (part) { parts[part.type] = part.value; });
    return Number(parts.day) + " " + MONTHS[Number(parts.month) - 1] + " " + parts.year + ", " + parts.hour + ":" + parts.minute + " " + parts.timeZoneName;
  }
  function localise(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var moment = new Date(el.getAttribute("datetime"));
      if (isNaN(moment.getTime()) || el.dataset.local === "1") return;
      if (!el.title) el.title = el.textContent.trim();
      el.textContent = text(moment);
      el.dataset.local = "1";
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { localise(document); });
  } else {
    localise(document);
  }
  window.prmLocaliseTimes = localise;
})();

// Deal registration form: "Add another product" copies the last product row. Without this
// script the form still offers a few rows, and empty rows are ignored when it is sent.
(function () {
  "use strict";
  var MAX_ROWS = 50;
  function renumber(row, index) {
    row.querySelectorAll("[id]").forEach(function (el) {
      el.id = el.id.replace(/_\d+$/, "_" + index);
    });
    row.querySelectorAll("label[for]").forEach(function (label) {
      label.htmlFor = label.htmlFor.replace(/_\d+$/, "_" + index);
      label.textContent = label.textContent.replace(/\d+$/, String(index + 1));
    });
  }
  function addRow(body, button) {
    var rows = body.querySelectorAll("[data-product-row]");
    var copy = rows[rows.length - 1].cloneNode(true);
    renumber(copy, rows.length);
    copy.querySelectorAll("select").forEach(function (el) { el.value = ""; });
    copy.querySelectorAll("input").forEach(function (el) { el.value = "1"; el.removeAttribute("aria-invalid"); });
    copy.querySelectorAll(".field-error").forEach(function (el) { el.remove(); });
    body.appendChild(copy);
    copy.querySelector("select").focus();
    if (rows.length + 1 >= MAX_ROWS) button.hidden = true;
  }
  function enhance() {
    var button = document.querySelector("[data-add-product-row]");
    var body = document.querySelector("[data-product-rows]");
    if (!button || !body) return;
    button.hidden = false;
    button.addEventListener("click", function () { addRow(body, button); });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", enhance);
  } else {
    enhance();
  }
})();
