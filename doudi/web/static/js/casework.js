// Case-work pages (申请, 发放, 救助对象, 复核): when a form's error comes back into #flash
// (an HTMX request answered with the flash fragment), bring it into view.
document.addEventListener("htmx:afterSwap", function (event) {
  var target = event.detail && event.detail.target;
  if (target && target.id === "flash" && target.scrollIntoView) {
    target.scrollIntoView({ block: "start" });
  }
});
