// The control room's one script: say in the alert bar when a live part could not be refreshed, and clear it
// when a refresh works again. Everything else is htmx attributes in the markup (no inline scripts: CSP).
(function () {
  "use strict";
  function alertBar() { return document.getElementById("control-room-alert"); }
  function clock() { return new Date().toLocaleTimeString([], { hour12: false }); }
  document.addEventListener("htmx:sendError", function () {
    var bar = alertBar();
    if (bar) { bar.textContent = "The server did not answer at " + clock() + "; the page keeps trying."; }
  });
  document.addEventListener("htmx:responseError", function (event) {
    var bar = alertBar();
    var status = event.detail.xhr ? event.detail.xhr.status : "?";
    if (bar) { bar.textContent = "A refresh failed at " + clock() + " (HTTP " + status + "); the page keeps trying."; }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var bar = alertBar();
    var xhr = event.detail.xhr;
    if (bar && event.detail.successful && xhr && !xhr.getResponseHeader("HX-Retarget")) { bar.textContent = ""; }
  });
})();

// A run's log follows its new lines while the reader is at its end; a reader who scrolled up stays put.
(function () {
  "use strict";
  var atEnd = true;
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var log = document.getElementById("execution-log");
    if (log && event.detail.target === log) {
      atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
    }
  });
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    var log = document.getElementById("execution-log");
    if (log && event.detail.target === log && atEnd) { log.scrollTop = log.scrollHeight; }
  });
  document.addEventListener("DOMContentLoaded", function () {
    var log = document.getElementById("execution-log");
    if (log && log.closest("[data-running]")) { log.scrollTop = log.scrollHeight; }
  });
})();
