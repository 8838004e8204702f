// Filters, expand/collapse, copy buttons and print. Plain DOM, no network: the page's
// Content-Security-Policy allows this script only (by its hash) and nothing from outside.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function selected(name) {
    var inputs = document.querySelectorAll('input[data-filter="' + name + '"]:checked');
    return new Set(Array.prototype.map.call(inputs, function (input) { return input.value; }));
  }

  function applyFilters() {
    var categories = selected("category");
    var statuses = selected("status");
    var counts = {};
    document.querySelectorAll("[data-filterable]").forEach(function (element) {
      var show = categories.has(element.dataset.category) && statuses.has(element.dataset.status);
      element.hidden = !show;
      var kind = element.dataset.filterable;
      counts[kind] = counts[kind] || { shown: 0, total: 0 };
      counts[kind].total += 1;
      if (show) { counts[kind].shown += 1; }
    });
    document.querySelectorAll("[data-shown]").forEach(function (element) {
      var count = counts[element.dataset.shown] || { shown: 0, total: 0 };
      element.textContent = count.shown + " of " + count.total;
    });
    document.querySelectorAll("[data-empty]").forEach(function (element) {
      var count = counts[element.dataset.empty] || { shown: 0, total: 0 };
      element.hidden = !(count.total > 0 && count.shown === 0);
    });
  }

  document.querySelectorAll("input[data-filter]").forEach(function (input) {
    input.addEventListener("change", applyFilters);
  });
  document.querySelectorAll("button[data-reset]").forEach(function (button) {
    button.addEventListener("click", function () {
      document.querySelectorAll("input[data-filter]").forEach(function (input) { input.checked = true; });
      applyFilters();
    });
  });

  function setOpen(open) {
    document.querySelectorAll("details.finding").forEach(function (details) {
      if (!details.hidden) { details.open = open; }
    });
  }
  document.querySelectorAll("button[data-expand]").forEach(function (button) {
    button.addEventListener("click", function () { setOpen(button.dataset.expand === "all"); });
  });

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var text = document.getElementById(button.dataset.copy).textContent;
      var done = function () {
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = "Copy"; }, 1500);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { selectText(button.dataset.copy); });
      } else {
        selectText(button.dataset.copy);
      }
    });
  });
  function selectText(id) {
    var range = document.createRange();
    range.selectNodeContents(document.getElementById(id));
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // Printing shows every finding open; the ones the reader had closed close again afterwards.
  var closedForPrint = [];
  window.addEventListener("beforeprint", function () {
    closedForPrint = Array.prototype.filter.call(document.querySelectorAll("details"), function (d) {
      return !d.open;
    });
    closedForPrint.forEach(function (details) { details.open = true; });
  });
  window.addEventListener("afterprint", function () {
    closedForPrint.forEach(function (details) { details.open = false; });
    closedForPrint = [];
  });

  function openTarget() {
    var target = location.hash && document.getElementById(location.hash.slice(1));
    if (target && target.tagName === "DETAILS") { target.open = true; }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
  applyFilters();
})();
