// Shows every <time datetime="..."> in the viewer's own time zone; the UTC value stays in the title.
(function () {
  "use strict";
  // dateStyle/timeStyle cannot be combined with timeZoneName, hence the separate fields.
  var format = new Intl.DateTimeFormat(undefined, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    timeZoneName: "short",
  });
  function localise(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var moment = new Date(el.getAttribute("datetime"));
      if (isNaN(moment.getTime()) || el.dataset.local === "1") return;
      if (!el.title) el.title = el.textContent.trim();
      el.textContent = format.format(moment);
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
