// 预警 and 家庭 pages (no inline scripts: the Content-Security-Policy forbids them).
// A refused change comes back as a message in #flash at the top of the page: bring it into view.
document.addEventListener("htmx:afterSwap", function (event) {
  var target = event.detail && event.detail.target;
  if (target && target.id === "flash" && target.scrollIntoView) {
    target.scrollIntoView({ behavior: "smooth", block: "start" });
  }
});
