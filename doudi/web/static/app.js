// Doudi front end: no inline scripts (the Content-Security-Policy forbids them).
// HTMX requests carry the session's CSRF token; elements with data-confirm ask first.
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta && meta.content) {
    event.detail.headers["X-CSRF-Token"] = meta.content;
  }
});
document.addEventListener("submit", function (event) {
  var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) {
    event.preventDefault();
    event.stopImmediatePropagation();  // or a boosted (HTMX) form would still be sent
  }
}, true);
