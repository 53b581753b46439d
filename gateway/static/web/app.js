// synthgate: live progress bars and the one-by-one record reviewer. Plain JS, no build step.
(function () {
  "use strict";
  var POLL_MS = 2000;

  function setField(box, name, value) {
    var el = box.querySelector('[data-field="' + name + '"]');
    if (!el) { return; }
    el.textContent = value === null || value === undefined ? "" : String(value);
    var optional = el.closest(".opt");
    if (optional) { optional.hidden = value === null || value === undefined || value === ""; }
  }

  function poll(box) {
    var url = box.getAttribute("data-progress-url");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (p) {
        ["done", "total", "failed", "held", "tokens", "cost", "eta_seconds", "state_label"].forEach(function (k) {
          setField(box, k, p[k]);
        });
        var state = box.querySelector('[data-field="state_label"]');
        if (state) { state.className = "state state-" + p.state; }
        var bar = box.querySelector(".bar");
        bar.setAttribute("aria-valuenow", p.percent);
        bar.querySelector("span").style.width = p.percent + "%";
        box.setAttribute("data-state", p.state);
        var heading = document.getElementById("request-state");
        if (heading && heading.textContent !== p.state_label) {
          heading.textContent = p.state_label;
          heading.className = "state state-" + p.state;
        }
        if (!p.terminal || p.state === "awaiting_approval" || p.state === "approved") {
          window.setTimeout(function () { poll(box); }, POLL_MS);
        }
      })
      .catch(function () { window.setTimeout(function () { poll(box); }, POLL_MS * 3); });
  }

  function initReviewer(root) {
    var items = root.querySelectorAll(".review-item");
    var pos = root.querySelector('[data-review="pos"]');
    var index = 0;
    function show(i) {
      index = (i + items.length) % items.length;
      items.forEach(function (item, n) { item.hidden = n !== index; });
      pos.textContent = String(index + 1);
    }
    // Open at the item a verdict form just returned to (#item-N), else the first.
    var start = 0;
    items.forEach(function (item, n) { if (location.hash && "#" + item.id === location.hash) { start = n; } });
    show(start);
    root.querySelector('[data-review="prev"]').addEventListener("click", function () { show(index - 1); });
    root.querySelector('[data-review="next"]').addEventListener("click", function () { show(index + 1); });
    root.addEventListener("keydown", function (e) {
      if (/^(TEXTAREA|INPUT|SELECT)$/.test(e.target.tagName)) { return; }
      if (e.key === "ArrowRight") { show(index + 1); }
      if (e.key === "ArrowLeft") { show(index - 1); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".progress[data-progress-url]").forEach(function (box) {
      var state = box.querySelector('[data-field="state_label"]');
      // Poll until the request can no longer change on its own.
      if (box.getAttribute("data-active") === "1" || (state && /state-(approved|awaiting_approval)/.test(state.className))) {
        window.setTimeout(function () { poll(box); }, POLL_MS);
      }
    });
    document.querySelectorAll(".reviewer").forEach(initReviewer);
  });
})();
